/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "attach.h"
#include "egpu.h"
#include "macro.h"

/* Proxmox VE: VM configs (qm config), property strings, and cluster PCI resource mappings
 * (/etc/pve/mapping/pci.cfg, API /cluster/mapping/pci), used through qm and pvesh run with an
 * argument vector (spawn-util), never a shell.
 *
 * A mapping of egpuctl's maps the eGPU's whole slot: path is "0000:30:00" (no function), so qemu-server
 * passes every function as one multifunction device; id, subsystem-id and iommugroup are those of
 * function 0, as qemu-server checks them. One map entry per node: a VM can start on whichever node has
 * the eGPU. */

#define PROXMOX_MAX_HOSTPCI 16
#define PROXMOX_HOOK_VOLUME "local:snippets/egpuctl-hook"

/* "key=value,key=value", a first element without '=' being the value of default_key. */
typedef struct PropString {
        char **keys;
        char **values;
        size_t n;
} PropString;

void prop_string_done(PropString *p);
/* The one tokenizer of property strings: the next element at *p, its key (NULL when it has no '=': the
 * whole element is then the value) and value. Empty elements are skipped. Returns 1 and moves *p past the
 * element, 0 at the end. The parsers that are more lenient than prop_string_parse() (doctor's) use it too.
 */
int prop_string_next(const char **p, char **ret_key, char **ret_value);
/* Only the first element may leave out its key (default_key; -EINVAL without one). Linear in the size. */
int prop_string_parse(const char *s, const char *default_key, PropString *ret);
const char *prop_string_get(const PropString *p, const char *key) _pure_;

/* The current section of `qm config` output (or a VM's .conf): "key: value" lines, up to the first
 * snapshot section ("[name]"). Comment lines ('#') are skipped; white space before a line's key and around
 * its value is dropped. Every entry in order (a key written twice is there twice). Linear in the size. */
typedef struct VmConfig {
        char **keys;
        char **values;
        unsigned *lines; /* the 1-based line number of each entry */
        size_t n;
} VmConfig;

void vm_config_done(VmConfig *c);
int vm_config_parse(const char *text, VmConfig *ret);
/* The value of the first entry with key, NULL when none. */
const char *vm_config_get(const VmConfig *c, const char *key) _pure_;

/* One element of a mapping's map list. */
typedef struct PciMapEntry {
        char *node;
        char *path;
        char *id;           /* "1002:687f", NULL when absent */
        char *subsystem_id; /* NULL when absent */
        int iommugroup;     /* -1 when absent (or not a number); another negative one is kept as written */
        char *description;
} PciMapEntry;

#define PROXMOX_DESCRIPTION_MAX 4096 /* maxLength of description in $map_fmt */

void pci_map_entry_done(PciMapEntry *e);
/* Parses a map entry as Proxmox does (parse_property_string() of pve-common's src/PVE/JSONSchema.pm with
 * $map_fmt of pve-guest-common's src/PVE/Mapping/PCI.pm): "key=value" parts split at ',' (parts of white
 * space skipped), each key once and one of node, path, id, subsystem-id, iommugroup, description, every
 * value non-empty; node, path and id present; node a pve-node, path a list of PCI addresses, ids
 * "VVVV:DDDD", iommugroup an integer. -EINVAL for what Proxmox refuses. */
int pci_map_entry_parse(const char *s, PciMapEntry *ret);
/* The property string: id, iommugroup, node, path, subsystem-id, then description, only the fields present.
 * -EINVAL for an entry that would not read back as written (a value with ',' or a line break, an empty
 * one, one that Proxmox's format refuses): what is written, pci_map_entry_parse() and Proxmox read back
 * equal. */
int pci_map_entry_format(const PciMapEntry *e, char **ret);
/* The entry for the eGPU's slot on node. */
int pci_map_entry_for_egpu(const Egpu *e, const char *node, PciMapEntry *ret);
/* Whether the entry describes the same device at the same place (path, ids, group). */
bool pci_map_entry_equal(const PciMapEntry *a, const PciMapEntry *b) _pure_;

/* The entries mapping NAME should have for node: one per eGPU present in h whose record names the mapping
 * (mapping=, written by vm attach --mapping and --pool), in the order of their addresses, each as
 * pci_map_entry_for_egpu() makes it. Proxmox refuses to start a VM when any path its mapping lists for the
 * node is missing or holds other ids (qemu-server's src/PVE/QemuServer/PCI.pm parse_hostpci() calls
 * pve-guest-common's src/PVE/Mapping/PCI.pm assert_valid() on each entry find_on_current_node() gives:
 * "pci device '...' not found"), so only what is present counts; with several, qemu-server takes the first
 * that no other VM reserved (choose_hostpci_devices(), reserve_pci_usage()): a pool. The one answer for
 * vm attach and the hookscript. *ret_n is 0 (and *ret NULL) when none is present; returns how many records
 * name the mapping, present or not. */
int pci_map_entries_wanted(
        const Host *h,
        const Enrolled *enrolled,
        const char *mapping,
        const char *node,
        PciMapEntry **ret,
        size_t *ret_n);
void pci_map_entries_free(PciMapEntry *l, size_t n);

/* A mapping's map list (property strings) with node's entries replaced by want: every other node's entry,
 * and any entry that does not parse, kept verbatim and in its place; node's entries where its first one
 * was (else at the end). A person's description on one of node's entries stays with the wanted entry of
 * the same path, else passes to the next wanted entry in order that has none. *ret_changed says whether
 * node's entries were not already want (pci_map_entry_equal(), in order). */
int pci_map_set_node(
        char **map,
        const char *node,
        const PciMapEntry *want,
        size_t n_want,
        char ***ret,
        bool *ret_changed);

/* Whether s is a configuration id as Proxmox takes one for a mapping (format pve-configid, $CONFIGID_RE of
 * pve-common's src/PVE/JSONSchema.pm: a letter, then letters, digits, '_' and '-', at least two characters
 * in all; pvesh answers "invalid configuration ID 'e'" otherwise). */
bool proxmox_configid_is_valid(const char *s) _pure_;

/* A hostpciN value raw with the device, pcie= and rombar= set as given, every other option a person added
 * (x-vga=1, romfile=..., ...) kept as written and in its place: mapping non-NULL replaces the device (host=,
 * or the first element without a key, and mapping=) by "mapping=NAME", first; pcie or rombar >= 0 sets
 * that option where it stands (appended when absent), -1 leaves it as written. */
int hostpci_value_set(const char *raw, const char *mapping, int pcie, int rombar, char **ret);

/* The hostpciN value that vm attach writes for eGPU e through mapping: the one there (old, NULL for a new
 * entry) with the person's options kept (hostpci_value_set()), "mapping=NAME", pcie=1, and rombar=0 when
 * the slot's function 0 has no ROM (pci_function_has_rom(), the ROM rule doctor's vm-config applies too)
 * and no romfile= stands in for it; otherwise rombar as written. */
int hostpci_value_for_egpu(const char *old, const char *mapping, const Egpu *e, char **ret);

/* A PCI address as Proxmox's host= and path= take it, domain added and lowercase: "30:00.0" gives
 * "0000:30:00.0", "0000:30:00" (a slot) stays. -EINVAL when it is not hex digits, ':' and '.'. */
int pci_address_normalize(const char *s, char **ret);

/* Whether a VM's hostpci value points at the eGPU: mapping=name, or host= one of its functions or its
 * slot ("30:00.0", "0000:30:00", "0000:30:00.1;..."). */
bool hostpci_refers_to(const char *value, const char *mapping, const Egpu *e);

/* The hot-pluggable PCIe port `vm attach VMID --live` gives a Proxmox VM, through its args (Proxmox's own
 * ports have no window reserve, and its hostpciN entries only reach the VM at its start): a
 * pcie-root-port on pcie.0 at slot 0x8, which qemu-server leaves free on q35 (it uses 0x1 for the
 * display, 0x9-0x19 for hostpciN on bus 0, 0x10-0x11 for its extra root ports, and pve-q35-4.0.cfg
 * 0x1a-0x1e: src/PVE/QemuServer/PCI.pm get_pcie_addr_map() and print_pcie_root_port()), chassis and port
 * 200 (qemu-server numbers its ports 1-16), the link speed and width qemu-server gives its own ports
 * (x-speed=16,x-width=32), and pref64-reserve, the prefetchable window that QEMU asks the firmware to
 * reserve behind it (hw/pci-bridge/gen_pcie_root_port.c), sized for the eGPU's BARs
 * (egpu_prefetchable_window()). */
#define PROXMOX_LIVE_PORT_ID "egpuctl-port0"
int proxmox_live_port_device(uint64_t window, char **ret);
/* A VM's args with egpuctl's port element ("-device pcie-root-port,id=egpuctl-port0,...") replaced by
 * "-device DEVICE", or DEVICE appended when there was none; NULL device takes it out. The person's other
 * arguments stay as written. args may be NULL (none); *ret is NULL when nothing is left. */
int proxmox_args_set_live_port(const char *args, const char *device, char **ret);
/* The pcie-root-ports a VM's args add, as Proxmox splits them (shell words): the largest prefetchable
 * reserve among them (pref64-reserve, QEMU's size syntax) in *ret_window, and in *ret_mine whether
 * egpuctl's is one of them. Returns how many there are. */
int proxmox_args_live_ports(const char *args, uint64_t *ret_window, bool *ret_mine);

/* The Proxmox node name, the host name up to the first dot: the running system's (uname's nodename) with no
 * root (NULL or "/"); under a root, the name that machine's /etc/hostname holds (its first line that is
 * neither empty nor a "#" comment, hostname(5)), so that a look at another machine's files takes that
 * machine's name; the running system's only where the root has no such file or it names nobody. */
int proxmox_node_name(const char *root, char **ret);

/* A mapping read through pvesh. */
typedef struct PciMapping {
        char *id;
        char *description;
        char *digest;
        char **map; /* the map property strings */
} PciMapping;

void pci_mapping_done(PciMapping *m);
/* Parses the JSON of `pvesh get /cluster/mapping/pci/ID --output-format json`. */
int pci_mapping_from_json(const char *json, PciMapping *ret);
/* Mapping id of /etc/pve/mapping/pci.cfg, read as Proxmox's SectionConfig reads it (a section "ID", its
 * "\tKEY VALUE" lines up to the next empty line, then a blank line, as write_config() writes each): its
 * description and its map lines that Proxmox accepts; 1 and *ret when there is one, 0 when not. No digest.
 * Linear in the size. */
int pci_mapping_from_cfg(const char *text, const char *id, PciMapping *ret);

/* Runs pvesh/qm: argv as given; *ret_stdout when non-NULL. A non-zero exit is -EPROTO (status in
 * *ret_status when non-NULL). */
int proxmox_run(char *const argv[], char **ret_stdout, int *ret_status);
/* Reads mapping id: 1 and *ret when it exists, 0 when not. */
int proxmox_mapping_get(const char *id, PciMapping *ret);
