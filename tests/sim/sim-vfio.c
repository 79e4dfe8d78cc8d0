/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel's VFIO answers for the testbed's /dev/vfio nodes (what the preload hands over as "@vfio/..."),
 * from the testbed's state. Sources, Linux 6.1 unless said otherwise:
 * - drivers/vfio/vfio_main.c: a group node is opened by one file at a time (vfio_group_fops_open():
 *   EBUSY while opened_file is set); VFIO_GROUP_GET_STATUS sets VFIO_GROUP_FLAGS_VIABLE when no kernel
 *   driver owns the group's DMA (iommu_group_dma_owner_claimed()); VFIO_GROUP_GET_DEVICE_FD needs the
 *   container's IOMMU set (-EINVAL) and a device of the group bound to vfio (-ENODEV otherwise).
 * - drivers/iommu/iommu.c iommu_group_claim_dma_owner(): EPERM while a driver owns the group's DMA, which
 *   VFIO_GROUP_SET_CONTAINER meets on a group that is not viable.
 * - drivers/vfio/container.c: VFIO_GET_API_VERSION gives VFIO_API_VERSION (0); VFIO_CHECK_EXTENSION of
 *   the type1 IOMMUs answers 1 with an IOMMU; VFIO_SET_IOMMU needs a group in the container (-EINVAL).
 * - drivers/vfio/pci/vfio_pci_core.c: VFIO_DEVICE_GET_INFO (VFIO_DEVICE_FLAGS_PCI, _RESET when the
 *   function could be reset when it was opened, VFIO_PCI_NUM_REGIONS 9, VFIO_PCI_NUM_IRQS 5),
 *   VFIO_DEVICE_GET_REGION_INFO (BARs and ROM from the resources, config space, -EINVAL for the VGA
 *   region of a device without VGA support), VFIO_DEVICE_GET_PCI_HOT_RESET_INFO (every device on the
 *   bus below the function's bridge, -ENODEV on a root bus).
 * - drivers/pci/pcie/portdrv_pci.c: pcieport sets driver_managed_dma, as vfio-pci and pci-stub do. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "sim.h"

#define VFIO_DEVICE_FLAGS_RESET_ (1U << 0)
#define VFIO_DEVICE_FLAGS_PCI_   (1U << 1)
#define REGION_READ              (1U << 0)
#define REGION_WRITE             (1U << 1)
#define REGION_MMAP              (1U << 2)
#define IORESOURCE_IO            0x100UL
#define IORESOURCE_MEM           0x200UL

/* The BDFs of group N's members: the PCI devices whose iommu_group link names it. The kernel makes that
 * link and the group's devices/ entry together (drivers/iommu/iommu.c iommu_group_add_device()); the
 * device's is the one a scenario that moves a device to another group edits, so it is the one read. */
static GPtrArray *group_members(int group) {
        g_autofree char *dir = g_build_filename(sim->sys, "bus", "pci", "devices", NULL);
        g_autofree char *want = g_strdup_printf("%d", group);
        GPtrArray *l = g_ptr_array_new_with_free_func(g_free);
        DIR *d = opendir(dir);
        struct dirent *de;

        while (d && (de = readdir(d))) {
                g_autofree char *link = NULL, *target = NULL, *base = NULL;

                if (de->d_name[0] == '.')
                        continue;
                link = g_build_filename(dir, de->d_name, "iommu_group", NULL);
                target = g_file_read_link(link, NULL);
                base = target ? g_path_get_basename(target) : NULL;
                if (base && g_str_equal(base, want))
                        g_ptr_array_add(l, g_strdup(de->d_name));
        }
        if (d)
                closedir(d);
        return l;
}

static bool driver_manages_dma(const char *drv) {
        return streq0(drv, "none") || streq0(drv, "vfio-pci") || streq0(drv, "pci-stub") ||
                streq0(drv, "pcieport");
}

static bool group_viable(int group) {
        g_autoptr(GPtrArray) m = group_members(group);
        char drv[256];

        if (m->len == 0)
                return false;
        for (unsigned i = 0; i < m->len; i++)
                if (!sim_driver_of(g_ptr_array_index(m, i), drv, sizeof(drv)) || !driver_manages_dma(drv))
                        return false;
        return true;
}

static bool iommu_active(void) {
        g_autofree char *dir = g_strdup_printf("%s/kernel/iommu_groups", sim->sys);
        DIR *d = opendir(dir);
        struct dirent *de;
        bool any = false;

        while (d && !any && (de = readdir(d)))
                any = de->d_name[0] != '.';
        if (d)
                closedir(d);
        return any;
}

/* Whether some process has the testbed's /dev/vfio/N open: the kernel's opened_file. umockdev makes the
 * node a link to a pty of its own, which is what a program's descriptor then points to. */
bool sim_vfio_group_open(int group) {
        g_autofree char *path = g_strdup_printf("%s/dev/vfio/%d", sim->root, group);
        g_autofree char *node = g_file_read_link(path, NULL) ?: g_strdup(path);
        g_autofree char *self = g_strdup_printf("%d", (int) getpid());
        DIR *proc = opendir("/proc");
        struct dirent *de;
        bool found = false;

        while (proc && !found && (de = readdir(proc))) {
                g_autofree char *fd_dir = NULL;
                DIR *fds;
                struct dirent *fe;

                if (de->d_name[0] < '0' || de->d_name[0] > '9' || streq0(de->d_name, self))
                        continue;
                fd_dir = g_strdup_printf("/proc/%s/fd", de->d_name);
                fds = opendir(fd_dir);
                while (fds && !found && (fe = readdir(fds))) {
                        char target[PATH_MAX];
                        ssize_t n = readlinkat(dirfd(fds), fe->d_name, target, sizeof(target) - 1);

                        if (n <= 0)
                                continue;
                        target[n] = '\0';
                        found = streq0(target, node);
                }
                if (fds)
                        closedir(fds);
        }
        if (proc)
                closedir(proc);
        return found;
}

static int group_of_bdf(const char *bdf) {
        g_autofree char *link = g_strdup_printf("%s/bus/pci/devices/%s/iommu_group", sim->sys, bdf);
        g_autofree char *target = g_file_read_link(link, NULL);
        g_autofree char *base = target ? g_path_get_basename(target) : NULL;
        int g;

        return base && parse_int(base, &g) == 0 ? g : -1;
}

/* The device's folder below /sys ("devices/pci0000:00/.../0000:30:00.0"), from bus/pci/devices. */
static char *device_dir(const char *bdf) {
        g_autofree char *link = g_strdup_printf("%s/bus/pci/devices/%s", sim->sys, bdf);
        g_autofree char *real = realpath(link, NULL);
        g_autofree char *sysreal = realpath(sim->sys, NULL);

        if (!real || !sysreal || !g_str_has_prefix(real, sysreal))
                return NULL;
        return g_strdup(real + strlen(sysreal) + 1);
}

/* Whether another PCI function shares the bus of the one at dir (a folder below /sys/devices). */
static bool has_sibling(const char *dir) {
        g_autofree char *parent = g_path_get_dirname(dir), *self = g_path_get_basename(dir);
        g_autofree char *path = g_build_filename(sim->sys, parent, NULL);
        g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
        const char *name;
        unsigned a, b, c, fn;

        while (d && (name = g_dir_read_name(d)))
                if (sscanf(name, "%4x:%2x:%2x.%1u", &a, &b, &c, &fn) == 4 && !streq0(name, self))
                        return true;
        return false;
}

/* pci_try_reset_function() at open: a listed method other than "bus" works; "bus" only for a function
 * alone on its bus (drivers/pci/pci.c pci_dev_reset_slot_function() refuses a multi-function device,
 * pci_parent_bus_reset() a device with a sibling; reset_method may list "bus" probed before the siblings
 * were added: tests/vm kernel-facts). */
static bool reset_works(const char *dir, char *methods) {
        g_auto(GStrv) m = g_strsplit(g_strstrip(methods), " ", -1);

        for (char **x = m; *x; x++)
                if (**x && !streq0(*x, "bus"))
                        return true;
        return g_strv_contains((const char *const *) m, "bus") && !has_sibling(dir);
}

static int device_info(const char *bdf, GString *out) {
        g_autofree char *dir = device_dir(bdf);
        g_autofree char *reset = dir ? read_attr(dir, "reset_method") : NULL;
        unsigned flags = VFIO_DEVICE_FLAGS_PCI_;

        if (!dir)
                return -ENODEV;
        /* reset_works: pci_try_reset_function() succeeded when the device was opened */
        if (reset && reset_works(dir, reset))
                flags |= VFIO_DEVICE_FLAGS_RESET_;
        g_string_append_printf(out, "%u 9 5", flags);
        return 0;
}

static int region_info(const char *bdf, unsigned index, GString *out) {
        g_autofree char *dir = device_dir(bdf);
        g_autofree char *resource = dir ? read_attr(dir, "resource") : NULL;
        g_auto(GStrv) lines = resource ? g_strsplit(resource, "\n", -1) : NULL;
        unsigned long long start = 0, end = 0, rflags = 0, size = 0;
        unsigned flags = 0;

        if (!dir)
                return -ENODEV;
        if (index <= 6) { /* BAR0-5, ROM */
                if (lines && index < g_strv_length(lines) &&
                    sscanf(lines[index], "%llx %llx %llx", &start, &end, &rflags) == 3 && end > start)
                        size = end - start + 1;
                if (size > 0)
                        flags = index == 6
                                ? REGION_READ
                                : REGION_READ | REGION_WRITE | (rflags & IORESOURCE_MEM ? REGION_MMAP : 0);
        } else if (index == 7) { /* config space: 4 KiB for PCIe, 256 bytes else, as the config file */
                g_autofree char *cfg = g_build_filename(sim->sys, dir, "config", NULL);
                struct stat st;
                size = stat(cfg, &st) == 0 && st.st_size > 256 ? 4096 : 256;
                flags = REGION_READ | REGION_WRITE;
        } else
                return -EINVAL; /* VGA region without VGA support, or beyond the regions */
        g_string_append_printf(out, "%u %llu", flags, size);
        return 0;
}

/* Every PCI function below the bridge above bdf, bridges included (vfio_pci_fill_devs() walks the bus with
 * pci_walk_bus()): what a secondary bus reset of that bridge resets. */
static int hot_reset_info(const char *bdf, GString *out) {
        g_autofree char *dir = device_dir(bdf);
        g_autofree char *parent = dir ? g_path_get_dirname(dir) : NULL;
        g_autofree char *pbase = parent ? g_path_get_basename(parent) : NULL;
        g_autofree char *prefix = NULL;
        GHashTableIter it;
        PciDev *d;

        if (!dir)
                return -ENODEV;
        /* on a root bus (the parent is pci0000:00) there is no bridge to reset the bus with */
        if (!pbase || !g_hash_table_lookup(sim->pci, pbase))
                return -ENODEV;
        prefix = g_strconcat(parent, "/", NULL);
        g_hash_table_iter_init(&it, sim->pci);
        while (g_hash_table_iter_next(&it, NULL, (gpointer *) &d))
                if (g_str_has_prefix(d->path, prefix))
                        g_string_append_printf(out, "%d %s\n", group_of_bdf(d->bdf), d->bdf);
        return 0;
}

int sim_handle_vfio(const char *what, const char *args, GString *out) {
        g_auto(GStrv) w = g_strsplit(args, " ", -1);
        unsigned n = g_strv_length(w);
        int group = -1, v;
        unsigned u;

        for (unsigned i = 0; i < sim->faults->len; i++) {
                Rule *f = g_ptr_array_index(sim->faults, i);
                g_autofree char *rel = g_strconcat("@vfio/", what, NULL);
                if (f->count != 0 && sim_rule_matches(f, rel)) {
                        if (f->count > 0)
                                f->count--;
                        log_debug("fault %s: %s\n", rel, g_strerror(f->value));
                        return -f->value;
                }
        }
        if (n >= 1 && w[0][0])
                (void) parse_int(w[0], &group);

        if (streq0(what, "open")) {
                /* No member on vfio-pci: no node (vfio_group_update() in sim-kernel.c hides it). */
                g_autofree char *node = g_strdup_printf("%s/dev/vfio/%d", sim->root, group);
                if (group < 0 || !g_file_test(node, G_FILE_TEST_IS_SYMLINK))
                        return -ENOENT;
                return sim_vfio_group_open(group) ? -EBUSY : 0;
        }
        /* "DEVREL": may an attribute of this device that takes its lock be read now? */
        if (streq0(what, "locked"))
                return sim_device_locked(args) ? 1 : 0;
        if (streq0(what, "VFIO_GET_API_VERSION"))
                return 0; /* VFIO_API_VERSION */
        if (streq0(what, "VFIO_CHECK_EXTENSION"))
                return (streq0(args, "1") || streq0(args, "3")) && iommu_active() ? 1 : 0;
        if (streq0(what, "VFIO_SET_IOMMU")) {
                /* "TYPE GROUPS ALREADY" */
                if (n != 3 || !(streq0(w[0], "1") || streq0(w[0], "3")) || streq0(w[1], "0") ||
                    streq0(w[2], "1") || !iommu_active())
                        return -EINVAL;
                return 0;
        }
        if (streq0(what, "VFIO_GROUP_GET_STATUS"))
                return group >= 0 && group_viable(group) ? 1 : 0;
        if (streq0(what, "VFIO_GROUP_SET_CONTAINER"))
                return group >= 0 && group_viable(group) ? 0 : -EPERM;
        if (streq0(what, "VFIO_GROUP_GET_DEVICE_FD")) {
                /* "GROUP BDF IOMMU_SET" */
                char drv[256];
                if (n != 3 || !streq0(w[2], "1"))
                        return -EINVAL;
                if (group_of_bdf(w[1]) != group || !sim_driver_of(w[1], drv, sizeof(drv)) ||
                    !streq0(drv, "vfio-pci"))
                        return -ENODEV;
                return 0;
        }
        if (streq0(what, "VFIO_DEVICE_GET_INFO") && n == 1)
                return device_info(w[0], out);
        if (streq0(what, "VFIO_DEVICE_GET_REGION_INFO") && n == 2 && parse_int(w[1], &v) == 0 && v >= 0) {
                u = (unsigned) v;
                return region_info(w[0], u, out);
        }
        if (streq0(what, "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO") && n == 1)
                return hot_reset_info(w[0], out);
        return -ENOTTY;
}

int sim_kmsg_open(void) {
        g_autofree char *path = g_build_filename(sim->root, "dev", "kmsg", NULL);
        g_autofree char *dir = g_path_get_dirname(path);

        if (g_mkdir_with_parents(dir, 0755) < 0 || (mkfifo(path, 0600) < 0 && errno != EEXIST))
                return -errno;
        /* read-write: a pipe with no reader would refuse a writer (ENXIO) */
        sim->kmsg_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        return sim->kmsg_fd < 0 ? -errno : 0;
}

void sim_kmsg(int prio, const char *device, const char *fmt, ...) {
        g_autofree char *text = NULL, *rec = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        rec = g_strdup_printf(
                "%d,%u,%" G_GINT64_FORMAT ",-;%s\n SUBSYSTEM=pci\n DEVICE=+pci:%s\n",
                prio,
                sim->kmsg_seq++,
                g_get_monotonic_time(),
                text,
                device);
        log_debug("kmsg: %s\n", text);
        if (sim->kmsg_fd >= 0 && write(sim->kmsg_fd, rec, strlen(rec)) < 0)
                log_debug("kmsg: %s\n", g_strerror(errno));
}
