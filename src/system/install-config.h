/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "host.h"
#include "install.h"
#include "store.h"

/* What `egpuctl install` puts on a host, generated from the host's eGPUs:
 *   UNIT_DIR/egpuctl.service            the daemon's unit, unless a package ships it
 *   .../multi-user.target.wants/...      its enablement link
 *   INSTALL_RULES_PATH                   driver_override=vfio-pci (and reset_method) for the eGPU's
 *                                        functions only: ids AND DEVPATH under its root port AND
 *                                        ATTR{removable}=="removable"
 *   INSTALL_MODPROBE_PATH                softdeps: vendor-reset before vfio-pci, vfio-pci before the
 *                                        functions' host drivers (no global ids=)
 *   INSTALL_MODULES_LOAD_PATH            vfio, vfio_iommu_type1, vfio_pci (vendor-reset first when needed)
 *   INSTALL_HOOK_SNIPPET_PATH            on Proxmox: the hookscript, a link to the egpuctl binary */

#define INSTALL_UNIT_NAME         "egpuctl.service"
#define INSTALL_RULES_PATH        "/etc/udev/rules.d/61-egpuctl-vfio.rules"
#define INSTALL_MODPROBE_PATH     "/etc/modprobe.d/egpuctl.conf"
#define INSTALL_MODULES_LOAD_PATH "/etc/modules-load.d/egpuctl.conf"
#define INSTALL_HOOK_SNIPPET_PATH "/var/lib/vz/snippets/egpuctl-hook"

typedef struct InstallConfig {
        InstallItem *items;
        size_t n_items;
        char **notes; /* things to tell the person: missing eGPU, conflicting files, ... */
        size_t n_notes, n_notes_allocated;
        bool vendor_reset; /* vendor-reset is installed and an eGPU function needs it */
} InstallConfig;

void install_config_done(InstallConfig *c);

/* The eGPUs to configure (the enrolled ones that are present); the pointers are not owned. */
typedef struct EgpuList {
        Egpu **egpus;
        size_t n_egpus;
} EgpuList;

/* The eGPUs of h that are enrolled: a Thunderbolt record with the unique_id of the router the eGPU is
 * behind, or a PCIe record of the port it sits below. */
int install_select_enrolled(const Host *h, Enrollment **list, size_t n, EgpuList *ret);
void egpu_list_done(EgpuList *l);

/* The unit text for the binary at sbindir/egpuctl. */
int install_unit_text(const char *sbindir, char **ret);

/* Builds the items for the eGPUs h under root; sbindir is where the binary is installed. */
int install_config_build(const EgpuList *h, const char *root, const char *sbindir, InstallConfig *ret);
