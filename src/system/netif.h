/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libudev.h>

#include "conf-files.h"
#include "macro.h"
#include "util.h"

/* Network interfaces: the ifupdown file /etc/network/interfaces, systemd .link files, and pinning
 * NICs whose names come from their PCI path (enp88s0: bus 88) to their MAC address. */

/* ---- /etc/network/interfaces ---- */

typedef struct IfaceOption {
        char *key;   /* "bridge-ports" */
        char *value; /* the rest of the line, whitespace-trimmed; "" when none */
        size_t line; /* physical line (0-based) where it starts */
} IfaceOption;

typedef struct IfaceStanza {
        char *name;   /* "vmbr0" */
        char *family; /* "inet", NULL when missing */
        char *method; /* "static", NULL when missing */
        IfaceOption *options;
        size_t n_options;
        size_t first_line, last_line; /* physical lines (0-based) of the header and of its last option */
} IfaceStanza;

/* One name of an auto or allow-* line. */
typedef struct IfaceAuto {
        char *name;
        size_t line; /* physical line (0-based) of the auto or allow-* line */
        bool allow;  /* allow-hotplug, allow-ovs, ...: not auto */
} IfaceAuto;

typedef struct InterfacesFile {
        char **lines; /* physical lines, without their newline */
        size_t n_lines;
        bool final_newline; /* the text ended in a newline */
        IfaceStanza *stanzas;
        size_t n_stanzas;
        IfaceAuto *autos; /* every name of every auto and allow-* line, in order, repeats kept */
        size_t n_autos;
        char **auto_names;  /* the same names once each, in the order they first appear */
        char **sources;     /* the arguments of "source" lines, as written */
        char **source_dirs; /* the arguments of "source-directory" lines */
        bool has_source;    /* a source or source-directory line: not followed */
} InterfacesFile;

/* Parses the text as ifupdown does: stanzas start with iface, mapping, auto, allow-*, source,
 * source-directory; other lines belong to the last iface stanza; '#' starts a comment line; a
 * backslash at the end of a line continues it. Never fails on content, only -ENOMEM (and -EFBIG for
 * more than 1 MiB or a line of more than 64 KiB). Linear in the size of the text but for sorting the
 * auto names, which is n log n. */
#define INTERFACES_MAX_SIZE (1024U * 1024U)
int interfaces_parse(const char *text, InterfacesFile **ret);
InterfacesFile *interfaces_free(InterfacesFile *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(InterfacesFile *, interfaces_free);

const IfaceStanza *interfaces_find(const InterfacesFile *f, const char *name) _pure_;
/* The value of option key (or its '_' spelling) in the stanza, NULL when absent. */
const char *iface_option(const IfaceStanza *s, const char *key) _pure_;
/* Whether the option names interfaces: bridge-ports, bond-slaves, slaves, bond-primary,
 * vlan-raw-device, ovs_ports, ovs_bonds (and '_' spellings). */
bool iface_option_names_interfaces(const char *key) _pure_;

/* A renaming: old[i] becomes new[i]. */
typedef struct NameMap {
        char **old_names;
        char **new_names;
        size_t n;
        /* Kept by name_map_add(), not for callers: the room of the lists, and a hash table of old_names
         * (index + 1 of the first of a name; 0: a free slot), so that a lookup scans no list. */
        size_t n_allocated, n_slots;
        size_t *slots;
} NameMap;

void name_map_done(NameMap *m);
int name_map_add(NameMap *m, const char *old_name, const char *new_name);
/* The new name of name (or of the base of "name.10"/"name:1", suffix kept); NULL when unmapped. The
 * result is newly allocated. */
int name_map_apply(const NameMap *m, const char *name, char **ret);
/* The new name of exactly name (no suffix handled), pointing into the map; NULL when unmapped. */
const char *name_map_lookup(const NameMap *m, const char *name) _pure_;

/* The file's text with every interface name in map renamed: in auto/allow-* lines, iface headers and
 * options that name interfaces. Comments and everything else stay byte for byte. */
int interfaces_rename(const InterfacesFile *f, const NameMap *map, char **ret);

/* The management bridges: bridges with a gateway, else bridges with an address. NULL-terminated
 * array of stanza pointers (not owned). */
int interfaces_management_bridges(const InterfacesFile *f, const IfaceStanza ***ret);

/* ---- NICs and pins ---- */

typedef struct Nic {
        char *name;      /* the kernel's name now */
        char *mac;       /* lowercase "88:ae:dd:72:13:25" */
        char *path_name; /* ID_NET_NAME_PATH, NULL when none */
        char *bdf;       /* the PCI function */
} Nic;

typedef struct NicList {
        Nic *nics;
        size_t n;
        char **all_names; /* every interface of the net subsystem, physical or not */
        /* Made by nic_list_index(), not for callers: all_names sorted, the NICs by MAC, and the NICs with
         * a path name by that name's key (netif_path_name_key()), so that a lookup scans no list. */
        char **sorted_names;
        StrIndex by_mac;
        struct NicKey *keys;
        size_t n_keys;
} NicList;

void nic_list_done(NicList *l);
/* The physical NICs: net devices with a PCI parent that is not an SR-IOV virtual function, with a
 * permanent (addr_assign_type 0) MAC address. Sorted by name, indexed. */
int nic_list_load(struct udev *udev, NicList *ret);
/* Builds the lookups below for a list put together by hand (nic_list_load() does it); again after a
 * change. */
int nic_list_index(NicList *l);
/* The NIC named name (the list is sorted by name); NULL when none. */
const Nic *nic_list_find(const NicList *l, const char *name) _pure_;
/* The first NIC of the MAC address (any case); NULL when none. */
const Nic *nic_list_find_mac(const NicList *l, const char *mac) _pure_;
/* Whether an interface of that name exists now, physical or not. */
bool nic_list_has_name(const NicList *l, const char *name) _pure_;
/* The NIC that name is under an older PCI bus number: a NIC whose path name (ID_NET_NAME_PATH) differs from
 * name only in the bus ("enp86s0" for the NIC whose path name is now enp88s0, since an eGPU's bridges took
 * bus numbers). 1 and *ret for exactly one such NIC; 0 when there is none, also when name is no path name;
 * -ENOTUNIQ when several could be it. The one answer for nic pin and doctor. */
int nic_list_find_moved(const NicList *l, const char *name, const Nic **ret);

/* A NIC name pinned to a MAC address: by a systemd .link file ([Match] MACAddress= or PermanentMACAddress=,
 * [Link] Name=) or by a udev rule (ATTR{address}=="..." with NAME="..."). */
typedef struct NicPin {
        char *mac; /* lowercase, ':' between the bytes */
        char *name;
        char *file;
} NicPin;

typedef struct NicPins {
        NicPin *pins;
        size_t n_pins, n_allocated;
        /* Made by nic_pins_index(), not for callers: the pins by MAC and by name, for the first n_indexed
         * pins (the lookups scan the list when more were added since). */
        StrIndex by_mac, by_name;
        size_t n_indexed;
} NicPins;

void nic_pins_done(NicPins *p);
/* A .link file: every address of MACAddress= and PermanentMACAddress= in [Match] gets the last word of
 * Name= in [Link] (several addresses give each the same name: only one of them may exist); an empty
 * assignment resets, as systemd does (unit_file_get_list()). */
int nic_pins_parse_link(NicPins *p, const char *file, const char *text);
/* A udev rules file: ATTR{address}=="MAC" with NAME="name" (or NAME:=) on one line. */
int nic_pins_parse_udev_rules(NicPins *p, const char *file, const char *text);
/* Sorts an index of the pins, so that the two lookups below search it (log n) instead of scanning the list;
 * call it again after adding pins. */
int nic_pins_index(NicPins *p);
/* The first pin (in the order added) of a MAC address (any case) or of a name; NULL when none. */
const NicPin *nic_pins_find_mac(const NicPins *p, const char *mac) _pure_;
const NicPin *nic_pins_find_name(const NicPins *p, const char *name) _pure_;
/* Where NIC pins are read from, highest precedence first: the folders of .link files (NETWORK_DIRS,
 * systemd's CONF_PATHS("systemd/network"), which udevd's net_setup_link reads) and of udev rules (udev's
 * rules folders, CONF_PATHS("udev/rules.d")); see conf-files.h. */
#define NIC_PIN_LINK_DIRS  CONF_PATHS("systemd/network")
#define NIC_PIN_RULES_DIRS CONF_PATHS("udev/rules.d")
/* Reads every pin under root: the .link files and the udev rules of those folders as systemd reads them
 * (conf_files_list(): sorted by name, a name in an earlier folder hiding the same name in later ones);
 * indexed. The one list of pins, for nic pin and doctor. */
int nic_pins_load(const char *root, NicPins *ret);

/* ---- systemd unit and .link files ---- */

/* Values of key in section of a systemd unit or .link file (every occurrence, words split at spaces);
 * an empty assignment resets the list, as systemd does. */
int unit_file_get_list(const char *text, const char *section, const char *key, char ***ret);

/* Splits a path-based name (systemd.net-naming-scheme(7): the prefix "en", "ib", "sl", "wl" or "ww", then
 * for PCI "[P<domain>]p<bus>s<slot>..."; src/udev/udev-builtin-net_id.c) into its bus number and the rest
 * with the bus taken out ("en|P1|p|s0f1" -> key "en P1 s0f1"): two names with the same key differ only in
 * the bus. -EINVAL for a name that is not one ("eno1", "eth0", "lan0"). The one parser of path names. */
int netif_path_name_key(const char *name, char **ret_key, unsigned *ret_bus);

/* ---- the plan of `egpuctl nic pin` ---- */

/* One .link file of the plan: the NIC it pins and the file. */
typedef struct NicPinLink {
        char *nic;  /* the kernel's name now ("enp88s0") */
        char *mac;  /* as in the file */
        char *name; /* the name it gets ("nic0") */
        char *path; /* absolute, without root: NIC_PIN_LINK_DIR "/10-egpuctl-nic0.link" */
        char *text;
} NicPinLink;

typedef struct NicPinPlan {
        NameMap map;       /* old name (kernel's now, or a stale name in interfaces) -> pinned name */
        NicPinLink *links; /* the new .link files, one an unpinned NIC named after its PCI path */
        size_t n_links, n_links_allocated;
        NameMap interfaces_renames; /* the part of map that /etc/network/interfaces uses: what changes there
                                     */
        char *interfaces_old;       /* NULL when the file does not exist */
        char *interfaces_new;       /* NULL when unchanged */
        char **problems;            /* reasons to refuse: a management bridge port that would not exist */
        char **notes;
} NicPinPlan;

void nic_pin_plan_done(NicPinPlan *p);
/* Plans pinning for nics under root (reads the pins and /etc/network/interfaces there): what `egpuctl nic
 * pin` writes, and what doctor's nic-names check gives as its fix. */
int nic_pin_plan(const NicList *nics, const char *root, NicPinPlan *ret);
/* The link of the plan for the NIC named nic; NULL when the plan pins it not. */
const NicPinLink *nic_pin_plan_find_link(const NicPinPlan *p, const char *nic) _pure_;

#define NIC_PIN_LINK_DIR       "/etc/systemd/network"
#define NIC_PIN_PREFIX         "nic"
#define INTERFACES_PATH        "/etc/network/interfaces"
#define INTERFACES_BACKUP_PATH "/etc/network/interfaces.egpuctl-backup"
