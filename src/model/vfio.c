/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>

#include "util.h"
#include "vfio.h"

/* iommufd and the VFIO device nodes came with Linux 6.6; Debian 12's headers (6.1) lack them. The
 * numbers and layouts are the kernel's ABI: include/uapi/linux/vfio.h (VFIO_DEVICE_BIND_IOMMUFD is
 * VFIO_BASE + 18, VFIO_DEVICE_ATTACH_IOMMUFD_PT VFIO_BASE + 19) and include/uapi/linux/iommufd.h
 * (IOMMUFD_TYPE ';', IOMMUFD_CMD_IOAS_ALLOC 0x81), Linux v6.6. */
#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
        uint32_t argsz;
        uint32_t flags;
        int32_t iommufd;
        uint32_t out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)
struct vfio_device_attach_iommufd_pt {
        uint32_t argsz;
        uint32_t flags;
        uint32_t pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)
#endif
struct egpuctl_iommu_ioas_alloc {
        uint32_t size;
        uint32_t flags;
        uint32_t out_ioas_id;
};
#define EGPUCTL_IOMMU_IOAS_ALLOC _IO(';', 0x81)

void vfio_probe_done(VfioProbe *p) {
        FOREACH_ARRAY(f, p->functions, p->n_functions) {
                free(f->bdf);
                free(f->regions);
                free(f->hot_reset_deps);
        }
        free(p->functions);
        *p = (VfioProbe){ .group = -1 };
}

/* An ioctl's -errno, EINTR retried. */
static int xioctl(int fd, unsigned long request, void *arg) {
        int r;

        do
                r = ioctl(fd, request, arg);
        while (r < 0 && errno == EINTR);
        return r < 0 ? negative_errno() : r;
}

static int probe_regions(int fd, VfioFunction *f) {
        /* The BARs, the ROM and the config space: what QEMU maps and reads at realize. The VGA region
         * (index 8) exists only for VGA devices with vfio-pci's VGA support and is not needed. */
        uint32_t n = MIN(f->num_regions, (uint32_t) VFIO_PCI_CONFIG_REGION_INDEX + 1);

        f->regions = calloc(n, sizeof(VfioRegion));
        if (n > 0 && !f->regions)
                return -ENOMEM;
        for (uint32_t i = 0; i < n; i++) {
                struct vfio_region_info info = { .argsz = sizeof(info), .index = i };
                int r = xioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &info);

                if (r < 0)
                        return r;
                if (info.size == 0)
                        continue;
                f->regions[f->n_regions++] =
                        (VfioRegion){ .index = i, .flags = info.flags, .size = info.size };
        }
        return 0;
}

/* VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: asked once with room for none, which the kernel answers with
 * ENOSPC and the count, then with room for all (include/uapi/linux/vfio.h). */
static void probe_hot_reset(int fd, VfioFunction *f) {
        _cleanup_free_ struct vfio_pci_hot_reset_info *info = NULL;
        struct vfio_pci_hot_reset_info head = { .argsz = sizeof(head) };
        size_t size;
        int r;

        r = xioctl(fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &head);
        if (r >= 0 && head.count == 0) {
                f->hot_reset = 0;
                return;
        }
        if (r < 0 && r != -ENOSPC) {
                f->hot_reset = r;
                return;
        }
        size = sizeof(head) + (size_t) head.count * sizeof(struct vfio_pci_dependent_device);
        info = calloc(1, size);
        if (!info) {
                f->hot_reset = -ENOMEM;
                return;
        }
        info->argsz = (uint32_t) size;
        r = xioctl(fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info);
        if (r < 0) {
                f->hot_reset = r;
                return;
        }
        f->hot_reset_deps = calloc(info->count, sizeof(VfioResetDependency));
        if (info->count > 0 && !f->hot_reset_deps) {
                f->hot_reset = -ENOMEM;
                return;
        }
        for (uint32_t i = 0; i < info->count; i++) {
                const struct vfio_pci_dependent_device *d = &info->devices[i];
                VfioResetDependency *dep = &f->hot_reset_deps[f->n_hot_reset_deps++];

                dep->group = d->group_id;
                snprintf(
                        dep->bdf,
                        sizeof(dep->bdf),
                        "%04x:%02x:%02x.%x",
                        d->segment,
                        d->bus,
                        (unsigned) (d->devfn >> 3) & 0x1f,
                        (unsigned) d->devfn & 0x7);
        }
        f->hot_reset = 0;
}

/* Reads what QEMU reads of a function through its descriptor. */
static int probe_function(int fd, VfioFunction *f) {
        struct vfio_device_info info = { .argsz = sizeof(info) };
        int r;

        r = xioctl(fd, VFIO_DEVICE_GET_INFO, &info);
        if (r < 0)
                return r;
        f->flags = info.flags;
        f->num_regions = info.num_regions;
        f->num_irqs = info.num_irqs;
        r = probe_regions(fd, f);
        if (r < 0)
                return r;
        probe_hot_reset(fd, f);
        return 0;
}

/* Records the first failing step; returns 0 (a refusal is what the probe is for), or r when it is
 * -ENOMEM. */
static int step_failed(VfioProbe *p, const char *step, int r) {
        if (r == -ENOMEM)
                return r;
        if (!p->failed) {
                p->failed = step;
                p->error = r;
        }
        return 0;
}

/* Opens a VFIO node, never the host's from inside a simulated run (path_passes_testbed()): -ENOENT
 * there, as on a kernel without the node. Returns the descriptor or -errno. */
static int open_node(const char *path, int flags) {
        int fd;

        if (path_passes_testbed(path))
                return -ENOENT;
        fd = open(path, flags | O_CLOEXEC);
        return fd < 0 ? negative_errno() : fd;
}

/* The VFIO device node of a function (iommufd's path): "/dev/vfio/devices/vfio3", from the function's
 * vfio-dev folder. -ENOENT on kernels without it: Linux 6.1 has the folder (a vfio-dev class device) but no
 * node, which needs CONFIG_VFIO_DEVICE_CDEV (6.6+; tests/vm found the difference). */
static int function_cdev(const char *bdf, char **ret) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_free_ char *dir = NULL;
        struct dirent *de;

        if (asprintf(&dir, "/sys/bus/pci/devices/%s/vfio-dev", bdf) < 0)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return negative_errno();
        while ((de = readdir(d)))
                if (strneq(de->d_name, "vfio", 4) && de->d_name[4]) {
                        char *s;
                        if (asprintf(&s, "/dev/vfio/devices/%s", de->d_name) < 0)
                                return -ENOMEM;
                        if (path_passes_testbed(s) || access(s, F_OK) < 0) {
                                free(s);
                                return -ENOENT;
                        }
                        *ret = s;
                        return 0;
                }
        return -ENOENT;
}

/* The iommufd path for one function, as QEMU's iommufd backend takes it (hw/vfio/iommufd.c). */
static int probe_iommufd_function(VfioProbe *p, const char *bdf) {
        _cleanup_close_ int iommufd = -EBADF, devfd = -EBADF;
        _cleanup_free_ char *node = NULL;
        struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
        struct egpuctl_iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
        struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
        struct vfio_device_info info = { .argsz = sizeof(info) };
        int r;

        r = function_cdev(bdf, &node);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* no device node: the group path is the only one */
        p->iommufd = true;
        iommufd = open_node("/dev/iommu", O_RDWR);
        if (iommufd < 0) {
                p->iommufd_failed = "open /dev/iommu";
                p->iommufd_error = iommufd;
                return 0;
        }
        devfd = open_node(node, O_RDWR);
        if (devfd < 0) {
                p->iommufd_failed = "open the VFIO device node";
                p->iommufd_error = devfd;
                return 0;
        }
        bind.iommufd = iommufd;
        if ((r = xioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) < 0)
                p->iommufd_failed = "VFIO_DEVICE_BIND_IOMMUFD";
        else if ((r = xioctl(iommufd, EGPUCTL_IOMMU_IOAS_ALLOC, &ioas)) < 0)
                p->iommufd_failed = "IOMMU_IOAS_ALLOC";
        else {
                attach.pt_id = ioas.out_ioas_id;
                if ((r = xioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) < 0)
                        p->iommufd_failed = "VFIO_DEVICE_ATTACH_IOMMUFD_PT";
                else if ((r = xioctl(devfd, VFIO_DEVICE_GET_INFO, &info)) < 0)
                        p->iommufd_failed = "VFIO_DEVICE_GET_INFO (iommufd)";
        }
        if (r < 0)
                p->iommufd_error = r;
        return 0;
}

/* The group path; descriptors closed on return, the device descriptors before the group's. */
static int probe_group_path(VfioProbe *p, char *const *bdfs) {
        _cleanup_close_ int group_fd = -EBADF, container = -EBADF;
        _cleanup_free_ char *node = NULL;
        struct vfio_group_status status = { .argsz = sizeof(status) };
        size_t n = strv_length((char **) bdfs);
        int r;

        if (asprintf(&node, "/dev/vfio/%d", p->group) < 0)
                return -ENOMEM;
        group_fd = open_node(node, O_RDWR);
        if (group_fd < 0) {
                r = group_fd;
                if (r == -EBUSY) {
                        p->held = true;
                        p->viable = true; /* a VM runs with it */
                        (void) vfio_group_holder(p->group, &p->holder);
                        return 0;
                }
                return step_failed(p, "open /dev/vfio/GROUP", r);
        }
        r = xioctl(group_fd, VFIO_GROUP_GET_STATUS, &status);
        if (r < 0)
                return step_failed(p, "VFIO_GROUP_GET_STATUS", r);
        p->viable = status.flags & VFIO_GROUP_FLAGS_VIABLE;
        if (!p->viable)
                return step_failed(p, "VFIO_GROUP_GET_STATUS (not viable)", -EPERM);

        container = open_node("/dev/vfio/vfio", O_RDWR);
        if (container < 0)
                return step_failed(p, "open /dev/vfio/vfio", container);
        r = xioctl(container, VFIO_GET_API_VERSION, NULL);
        if (r < 0)
                return step_failed(p, "VFIO_GET_API_VERSION", r);
        p->api_version = r;
        if (r != VFIO_API_VERSION)
                return step_failed(p, "VFIO_GET_API_VERSION (not the version QEMU speaks)", -EPROTO);
        if (xioctl(container, VFIO_CHECK_EXTENSION, (void *) (uintptr_t) VFIO_TYPE1v2_IOMMU) > 0)
                p->iommu_type = VFIO_TYPE1v2_IOMMU;
        else if (xioctl(container, VFIO_CHECK_EXTENSION, (void *) (uintptr_t) VFIO_TYPE1_IOMMU) > 0)
                p->iommu_type = VFIO_TYPE1_IOMMU;
        else
                return step_failed(p, "VFIO_CHECK_EXTENSION (no type1 IOMMU)", -EOPNOTSUPP);
        r = xioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container);
        if (r < 0)
                return step_failed(p, "VFIO_GROUP_SET_CONTAINER", r);
        r = xioctl(container, VFIO_SET_IOMMU, (void *) (uintptr_t) p->iommu_type);
        if (r < 0)
                return step_failed(p, "VFIO_SET_IOMMU", r);

        p->functions = calloc(n, sizeof(VfioFunction));
        if (n > 0 && !p->functions)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                _cleanup_close_ int fd = -EBADF;
                VfioFunction *f = &p->functions[p->n_functions];

                f->bdf = strdup(bdfs[i]);
                if (!f->bdf)
                        return -ENOMEM;
                f->hot_reset = -ENODATA;
                p->n_functions++;
                fd = xioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, bdfs[i]);
                if (fd < 0) {
                        int e = fd;
                        fd = -EBADF;
                        return step_failed(p, "VFIO_GROUP_GET_DEVICE_FD", e);
                }
                r = probe_function(fd, f);
                if (r < 0)
                        return step_failed(p, "VFIO_DEVICE_GET_INFO", r);
        }
        return 0;
}

int vfio_probe_group(int group, char *const *bdfs, VfioProbe *ret) {
        _cleanup_(vfio_probe_done) VfioProbe p = { .group = group };
        int r;

        r = probe_group_path(&p, bdfs);
        if (r < 0)
                return r;
        /* The device nodes, once the group is closed again: the kernel refuses them while the group is
         * open (vfio_device_block_group()). Not for a group a VM holds. */
        if (!p.held && !p.failed)
                STRV_FOREACH(b, (char **) bdfs) {
                        r = probe_iommufd_function(&p, *b);
                        if (r < 0)
                                return r;
                        if (p.iommufd_failed)
                                break;
                }
        *ret = p;
        p = (VfioProbe){};
        return 0;
}

/* Whether an open file's path is node: the node itself, what the node links to, or a path ending in it
 * (a test bed's /dev redirects nodes to emulated ones). */
static bool path_is_node(const char *target, const char *node, const char *node_link) {
        size_t l = strlen(target), n = strlen(node);

        if (node_link && *node_link && streq(target, node_link))
                return true;
        return l >= n && streq(target + l - n, node);
}

/* The nodes that give access to group: /dev/vfio/GROUP, and each member's VFIO device node. */
static int group_nodes(int group, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_free_ char *dir = NULL;
        struct dirent *de;
        char *s;
        int r;

        if (asprintf(&s, "/dev/vfio/%d", group) < 0)
                return -ENOMEM;
        r = strv_consume(&l, s);
        if (r < 0)
                return r;
        if (asprintf(&dir, "/sys/kernel/iommu_groups/%d/devices", group) < 0)
                return -ENOMEM;
        d = opendir(dir);
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (function_cdev(de->d_name, &s) >= 0 && (r = strv_consume(&l, s)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int vfio_group_holder(int group, pid_t *ret_pid) {
        _cleanup_(closedirp) DIR *proc = NULL;
        _cleanup_strv_free_ char **nodes = NULL, **links = NULL;
        struct dirent *de;
        bool held;
        int r;

        r = group_nodes(group, &nodes);
        if (r < 0)
                return r;
        if (path_passes_testbed(nodes[0]))
                return 0; /* a simulated run, whose kernel has no such group: no host process is its VM */
        /* The kernel lets one process at a time open a group: EBUSY says it is in use, whatever /proc
         * lets us see. The scan below then only finds who. */
        {
                _cleanup_close_ int fd = open_node(nodes[0], O_RDWR | O_NONBLOCK | O_NOCTTY);
                held = fd == -EBUSY;
        }
        /* What each node links to ("" when it is no link), in the same order. */
        STRV_FOREACH(n, nodes) {
                char *t = NULL;

                if (readlinkat_malloc(AT_FDCWD, *n, &t) < 0)
                        t = strdup("");
                r = strv_consume(&links, t);
                if (r < 0)
                        return r;
        }
        proc = opendir("/proc");
        if (!proc)
                return negative_errno();
        while ((de = readdir(proc))) {
                _cleanup_(closedirp) DIR *fds = NULL;
                _cleanup_free_ char *fd_dir = NULL;
                struct dirent *fe;
                uint32_t pid;

                if (safe_atou32(de->d_name, 10, &pid) < 0 || pid == (uint32_t) getpid())
                        continue;
                if (asprintf(&fd_dir, "/proc/%s/fd", de->d_name) < 0)
                        return -ENOMEM;
                fds = opendir(fd_dir);
                if (!fds)
                        continue; /* gone, or not ours to see */
                while ((fe = readdir(fds))) {
                        _cleanup_free_ char *target = NULL;

                        if (fe->d_name[0] == '.')
                                continue;
                        if (readlinkat_malloc(dirfd(fds), fe->d_name, &target) < 0)
                                continue;
                        for (size_t i = 0; nodes[i]; i++)
                                if (path_is_node(target, nodes[i], links[i])) {
                                        *ret_pid = (pid_t) pid;
                                        return 1;
                                }
                }
        }
        if (held) {
                *ret_pid = 0; /* in use, by a process we may not look into */
                return 1;
        }
        return 0;
}
