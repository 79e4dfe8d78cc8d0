/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libudev.h>

#include "egpu.h"
#include "iommu-group.h"
#include "macro.h"
#include "pci-function.h"
#include "tb-device.h"
#include "tb-domain.h"

/* A snapshot of the machine as sysfs shows it: nothing here is remembered between runs. */
typedef struct Host {
        TbDomain **domains;
        size_t n_domains;
        TbDevice **tb_devices; /* sorted by syspath: parents before children */
        size_t n_tb_devices;
        PciFunction **pci; /* sorted by syspath: bridges before what is below them */
        size_t n_pci;
        IommuGroup **groups; /* sorted by id */
        size_t n_groups;
        Egpu **egpus; /* by BDF */
        size_t n_egpus;
        /* Room in the arrays above, which grow by doubling while they are built. */
        size_t n_domains_allocated, n_tb_devices_allocated, n_pci_allocated, n_groups_allocated,
                n_egpus_allocated;
        size_t n_iommu_units; /* entries of /sys/class/iommu: 0 when no IOMMU is active */
} Host;

/* Enumerates the pci, thunderbolt and iommu subsystems through libudev and builds the model. Display
 * functions below one of the ports, with its ids, are PCIe eGPUs. */
int host_load_with_ports(struct udev *udev, const PciePort *ports, size_t n_ports, Host **ret);
/* The same with Thunderbolt eGPUs only. */
int host_load(struct udev *udev, Host **ret);
/* Brings h up to date with the devices at syspaths (NULL-terminated), each added, changed or removed since h
 * was read (the devices of a batch of uevents): each is read again, or dropped when it is gone, and what is
 * built from the devices (parents, domains, groups, eGPUs, with ports as for host_load_with_ports()) is
 * made again. The other devices stay as they were read: after a refresh with every device that changed,
 * h is what host_load_with_ports() would read now, for the cost of the devices named. Devices of other
 * subsystems than pci and thunderbolt are ignored. On failure h may lack devices or what is built from
 * them, but stays valid to read and to free: load it again. */
int host_refresh(Host *h, struct udev *udev, char **syspaths, const PciePort *ports, size_t n_ports);
Host *host_free(Host *h);
/* A copy of h that shares nothing with it, for another thread: its devices copied, what is built from them
 * made again with ports (as for host_load_with_ports()). Reads nothing but the root ports' device links. */
int host_dup(const Host *h, const PciePort *ports, size_t n_ports, Host **ret);
DEFINE_TRIVIAL_CLEANUP_FUNC(Host *, host_free);

PciFunction *host_find_pci(const Host *h, const char *bdf) _pure_;
PciFunction *host_find_pci_by_syspath(const Host *h, const char *syspath) _pure_;
TbDevice *host_find_tb_device(const Host *h, const char *name_or_uuid) _pure_;
TbDevice *host_find_tb_device_by_syspath(const Host *h, const char *syspath) _pure_;
IommuGroup *host_find_group(const Host *h, int id) _pure_;
/* Whether the eGPU behind router t can be told apart from other routers' of its domain: the domain's NHI
 * has root ports linked to it (find_tunnel_router() in host.c). Without, only the only connected router
 * of the domain is certain. */
bool host_tb_device_placeable(const Host *h, const TbDevice *t);
/* The PCIe eGPU below port, or NULL. */
Egpu *host_find_egpu_of_port(const Host *h, const char *port) _pure_;
/* The eGPU one of whose functions is f, or NULL. */
Egpu *host_find_egpu_of(const Host *h, const PciFunction *f) _pure_;
/* Whether an IOMMU is active: units registered, or groups present. */
bool host_iommu_active(const Host *h) _pure_;
