/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>

#include "sysfs.h"
#include "util.h"

int sysfs_attr_string(struct udev_device *d, const char *attr, char **ret) {
        const char *v;
        char *c;

        v = udev_device_get_sysattr_value(d, attr);
        if (!v)
                return -ENOENT;
        c = strdup(v);
        if (!c)
                return -ENOMEM;
        *ret = strstrip_trailing(c);
        return 0;
}

int sysfs_attr_u32(struct udev_device *d, const char *attr, int base, uint32_t *ret) {
        const char *v;

        v = udev_device_get_sysattr_value(d, attr);
        if (!v)
                return -ENOENT;
        return safe_atou32(v, base, ret);
}

int sysfs_attr_int(struct udev_device *d, const char *attr, int *ret) {
        const char *v;

        v = udev_device_get_sysattr_value(d, attr);
        if (!v)
                return -ENOENT;
        return safe_atoi(v, ret);
}

int sysfs_write(const char *path, const char *value) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(value);
        ssize_t n;

        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        do
                n = write(fd, value, len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != len)
                return -EIO;
        return 0;
}

int sysfs_write_attr(const char *syspath, const char *attr, const char *value) {
        _cleanup_free_ char *p = path_join(syspath, attr);

        if (!p)
                return -ENOMEM;
        return sysfs_write(p, value);
}

int sysfs_read_attr(const char *syspath, const char *attr, char **ret) {
        _cleanup_free_ char *p = path_join(syspath, attr), *v = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = read_full_file(p, 64 * 1024, &v, NULL);
        if (r < 0)
                return r;
        *ret = strstrip_trailing(TAKE_PTR(v));
        return 0;
}
