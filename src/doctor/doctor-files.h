/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include "macro.h"
#include "netif.h"
#include "pci-function.h"

/* Pure parsers of the files and attributes that "egpuctl doctor" reads. No I/O here: each takes the text. */

/* PciResource and its parser, and format_bytes(): pci-function.h and util.h, where they are the one
 * answer for every caller. */

/* A PCIe link speed attribute ("8.0 GT/s PCIe", "2.5 GT/s") in MT/s (8000); -EINVAL for "Unknown" etc. */
int pcie_speed_parse(const char *s, unsigned *ret);

/* The SecureBoot efivar: 4 attribute bytes, then the value byte. 1 on, 0 off, -EINVAL when malformed. */
int efivar_bool_parse(const void *data, size_t size);

/* /etc/network/interfaces (ifupdown, ifupdown2 as on Proxmox). */
typedef struct IfaceRef {
        char *name;
        char *file;
        unsigned line;
        const char *how; /* "iface", "auto", "allow-hotplug", "bridge-ports", "bond-slaves", ... (static) */
} IfaceRef;

typedef struct NetConfig {
        IfaceRef *refs;
        size_t n_refs, n_refs_allocated;
        char **virtual_names; /* interfaces that the configuration itself makes: bridges, bonds, vlans;
                                 sorted */
        size_t n_virtual_names, n_virtual_names_allocated;
        char **sources;     /* the arguments of "source" lines, as written */
        char **source_dirs; /* likewise for "source-directory" lines */
} NetConfig;

void net_config_done(NetConfig *c);
/* Adds one file: parsed by interfaces_parse() (netif.h), so -EFBIG for more than it takes. */
int net_config_parse(NetConfig *c, const char *file, const char *text);
/* Whether the name is one the kernel or the configuration makes itself, not a NIC: lo, bridges, bonds,
 * VLANs of those, and names the configuration defines as virtual. */
bool net_config_name_is_virtual(const NetConfig *c, const char *name) _pure_;

/* NicPin, NicPins and their parsers, unit_file_get_list() and the one parser of path-based names,
 * netif_path_name_key(): netif.h. */

/* A Proxmox VM configuration (/etc/pve/qemu-server/VMID.conf): only the current configuration, before the
 * first [snapshot] section. What doctor asks of it, read through the parsers of proxmox.c
 * (vm_config_parse(), prop_string_next(), pci_address_normalize(), pci_mapping_from_cfg()). */
typedef struct PveHostpci {
        unsigned index; /* hostpciN */
        char **hosts;   /* "0000:30:00.0" or "0000:30:00" (every function of the slot); domain added */
        char *mapping;  /* mapping=NAME (a cluster resource mapping), NULL when not used */
        int pcie;       /* 0/1, -1 when not given (0) */
        int rombar;     /* 0/1, -1 when not given (Proxmox default: 1) */
        char *romfile;
        char *raw; /* the value as written */
        unsigned line;
} PveHostpci;

typedef struct PveVm {
        char *name;
        char *machine; /* NULL: Proxmox's default i440fx */
        PveHostpci *hostpci;
        size_t n_hostpci;
} PveVm;

void pve_vm_done(PveVm *vm);
int pve_vm_parse(PveVm *vm, const char *text);
/* Whether the machine type is q35 ("q35", "pc-q35-8.1", "pc-q35-8.1+pve0"). */
bool pve_machine_is_q35(const char *machine) _pure_;
/* Whether a host entry ("0000:30:00" or "0000:30:00.1") covers the function bdf. */
bool pve_host_matches(const char *host, const char *bdf) _pure_;
/* The addresses (path=, several joined by ';') of the "map" lines for node of the PCI resource mapping name
 * in /etc/pve/mapping/pci.cfg (text) that Proxmox accepts (pci_mapping_from_cfg()), the domain added: at a
 * VM's start Proxmox looks at this node's entries only (pve-guest-common's src/PVE/Mapping/PCI.pm
 * find_on_current_node()); node NULL: every node's. The hostpciN value with pcie= and rombar= set:
 * hostpci_value_set() (proxmox.h). An empty list when the mapping has none for node; -ENOENT when there is
 * no such mapping. */
int pve_mapping_paths(const char *text, const char *name, const char *node, char ***ret);
