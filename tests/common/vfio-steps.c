/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The VFIO steps QEMU takes for a group and a function (hw/vfio/common.c, hw/vfio/pci.c), one line each with
 * what the kernel answered. Included by tests/sim/sim-probe.c (the simulated kernel) and tests/vm/vm-tool.c
 * (the real one), so that the two can be held to the same list. Needs errname(). */
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *errname(int e);

static void vfio_step(const char *what, int r) {
        if (r < 0)
                printf("%s: %s\n", what, errname(errno));
        else
                printf("%s: ok\n", what);
}

/* Prints the steps for group with function bdf, and other, a function that is not in the group (or "-").
 * Returns 0 when every step up to the device's info went through. */
static int vfio_steps(int group, const char *bdf, const char *other) {
        struct vfio_group_status st = { .argsz = sizeof(st) };
        struct vfio_device_info info = { .argsz = sizeof(info) };
        struct vfio_pci_hot_reset_info hr = { .argsz = sizeof(hr) };
        char node[64];
        int g, g2, c, d, r, ok = 1;

        snprintf(node, sizeof(node), "/dev/vfio/%d", group);
        g = open(node, O_RDWR | O_CLOEXEC);
        vfio_step("open group", g);
        if (g < 0)
                return 1;
        g2 = open(node, O_RDWR | O_CLOEXEC);
        vfio_step("second open of the group", g2);
        if (g2 >= 0)
                close(g2);
        r = ioctl(g, VFIO_GROUP_GET_STATUS, &st);
        if (r < 0)
                vfio_step("VFIO_GROUP_GET_STATUS", r);
        else
                printf("VFIO_GROUP_GET_STATUS: %s\n",
                       st.flags & VFIO_GROUP_FLAGS_VIABLE ? "viable" : "not viable");
        c = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
        vfio_step("open container", c);
        if (c < 0) {
                close(g);
                return 1;
        }
        printf("VFIO_GET_API_VERSION: %d\n", ioctl(c, VFIO_GET_API_VERSION));
        printf("VFIO_CHECK_EXTENSION TYPE1v2: %d\n", ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU));
        r = ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
        vfio_step("VFIO_SET_IOMMU before a group is set", r);
        r = ioctl(g, VFIO_GROUP_SET_CONTAINER, &c);
        vfio_step("VFIO_GROUP_SET_CONTAINER", r);
        ok = r >= 0;
        r = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, bdf);
        vfio_step("VFIO_GROUP_GET_DEVICE_FD before VFIO_SET_IOMMU", r);
        if (r >= 0)
                close(r);
        r = ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
        vfio_step("VFIO_SET_IOMMU", r);
        ok = ok && r >= 0;
        if (strcmp(other, "-") != 0) {
                r = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, other);
                vfio_step("VFIO_GROUP_GET_DEVICE_FD of a function outside the group", r);
                if (r >= 0)
                        close(r);
        }
        d = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, bdf);
        vfio_step("VFIO_GROUP_GET_DEVICE_FD", d);
        if (d >= 0) {
                r = ioctl(d, VFIO_DEVICE_GET_INFO, &info);
                if (r < 0)
                        vfio_step("VFIO_DEVICE_GET_INFO", r);
                else
                        printf("VFIO_DEVICE_GET_INFO: pci=%d reset=%d regions=%u irqs=%u\n",
                               !!(info.flags & VFIO_DEVICE_FLAGS_PCI),
                               !!(info.flags & VFIO_DEVICE_FLAGS_RESET),
                               info.num_regions,
                               info.num_irqs);
                for (unsigned i = 0; r >= 0 && i <= VFIO_PCI_VGA_REGION_INDEX; i++) {
                        struct vfio_region_info ri = { .argsz = sizeof(ri), .index = i };
                        int q = ioctl(d, VFIO_DEVICE_GET_REGION_INFO, &ri);
                        if (q < 0)
                                printf("region %u: %s\n", i, errname(errno));
                        else if (ri.size > 0)
                                printf("region %u: size>0 read=%d write=%d\n",
                                       i,
                                       !!(ri.flags & VFIO_REGION_INFO_FLAG_READ),
                                       !!(ri.flags & VFIO_REGION_INFO_FLAG_WRITE));
                }
                r = ioctl(d, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &hr);
                if (r < 0 && errno == ENOSPC)
                        printf("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO with no room: ENOSPC, count=%u\n",
                               hr.count);
                else if (r < 0)
                        vfio_step("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", r);
                else
                        printf("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: count=%u\n", hr.count);
                close(d);
        } else
                ok = 0;
        close(c);
        close(g);
        return ok ? 0 : 1;
}
