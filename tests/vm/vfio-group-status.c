/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfio-group-status /dev/vfio/N
 *
 * Opens a VFIO group and asks the kernel VFIO_GROUP_GET_STATUS. Prints one line:
 *   "viable", or "not-viable", followed by " container-set" when the group already has one;
 *   or "error open ENOENT" / "error ioctl EINVAL" when the kernel refused.
 * Exits 0 when viable, 1 when not, 2 on an error.
 * Static, for the tests/vm initramfs.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np() */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

static void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ __attribute__((cleanup(closep)))

static const char *errno_name(int e) {
        const char *n = strerrorname_np(e);
        return n ?: "E?";
}

int main(int argc, char *argv[]) {
        _cleanup_close_ int fd = -EBADF;
        struct vfio_group_status status = {
                .argsz = sizeof(status),
        };

        if (argc != 2) {
                fprintf(stderr, "usage: vfio-group-status /dev/vfio/N\n");
                return 2;
        }

        fd = open(argv[1], O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                printf("error open %s\n", errno_name(errno));
                return 2;
        }

        if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) < 0) {
                printf("error ioctl %s\n", errno_name(errno));
                return 2;
        }

        printf("%s%s\n",
               status.flags & VFIO_GROUP_FLAGS_VIABLE ? "viable" : "not-viable",
               status.flags & VFIO_GROUP_FLAGS_CONTAINER_SET ? " container-set" : "");
        return status.flags & VFIO_GROUP_FLAGS_VIABLE ? 0 : 1;
}
