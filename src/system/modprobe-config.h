/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include "macro.h"

/* modprobe.d(5) configuration, parsed as kmod does: one command per line, a backslash at the end of a line
 * joins the next one, a line whose first word starts with '#' is a comment, words are separated by spaces
 * or tabs. Module names are normalised ('-' becomes '_'), as kmod compares them. */

typedef enum ModprobeCommand {
        MODPROBE_ALIAS,     /* alias WILDCARD MODULE: module = the wildcard, args[0] = the module */
        MODPROBE_OPTIONS,   /* options MODULE OPTION...: args = the options, "key=value" or "key" */
        MODPROBE_INSTALL,   /* install MODULE COMMAND...: args[0] = the command line */
        MODPROBE_REMOVE,    /* remove MODULE COMMAND...: likewise */
        MODPROBE_BLACKLIST, /* blacklist MODULE */
        MODPROBE_SOFTDEP,   /* softdep MODULE pre: A B post: C: pre/post */
        _MODPROBE_COMMAND_MAX,
        _MODPROBE_COMMAND_INVALID = -EINVAL,
} ModprobeCommand;

typedef struct ModprobeEntry {
        ModprobeCommand command;
        char *file;    /* as given to modprobe_config_parse() */
        unsigned line; /* the first line of the (joined) command */
        char *module;
        char **args; /* never NULL */
        char **pre;  /* softdep only; never NULL */
        char **post;
} ModprobeEntry;

typedef struct ModprobeConfig {
        ModprobeEntry *entries;
        size_t n_entries;
        size_t n_entries_allocated; /* room in entries, which grows by doubling */
        unsigned n_invalid;         /* lines kmod would ignore with a warning */
        char *first_invalid;        /* "FILE:LINE" of the first of them, NULL when none */
} ModprobeConfig;

void modprobe_config_done(ModprobeConfig *c);
const char *modprobe_command_to_string(ModprobeCommand c) _pure_;

/* A copy of name with '-' replaced by '_'. */
char *modprobe_normalize(const char *name);
/* Whether two module names are the same for kmod. */
bool modprobe_name_eq(const char *a, const char *b) _pure_;

/* Parses text (the contents of a file named file) and appends its commands to c. Malformed lines are
 * counted in n_invalid and skipped; only -ENOMEM is an error. */
int modprobe_config_parse(ModprobeConfig *c, const char *file, const char *text);

/* The folders of modprobe.d(5), highest precedence first, as kmod reads them (default_config_paths[] of
 * libkmod/libkmod.c: /etc, /run, /usr/local/lib, the distribution's /usr/lib, /lib): the one list of
 * modprobe.d folders, for every reader of modprobe configuration. */
extern const char *const modprobe_config_dirs[];
extern const size_t modprobe_n_config_dirs;

/* Loads every "*.conf" of modprobe_config_dirs under root, in kmod's order (conf_files_list()): sorted by
 * file name, a name in an earlier folder hiding the same name in later ones. Missing folders are fine.
 * file names in the entries are the paths without root. */
int modprobe_config_load(ModprobeConfig *c, const char *root);

/* Queries. */
/* The softdep entry of module that kmod uses: the first one in file order whose name (a glob) matches;
 * later ones are ignored. NULL when none (also when out of memory). */
const ModprobeEntry *modprobe_find_softdep(const ModprobeConfig *c, const char *module) _pure_;
/* Whether "softdep module pre: ... dep ..." is configured, in the entry kmod uses. */
bool modprobe_has_softdep_pre(const ModprobeConfig *c, const char *module, const char *dep) _pure_;
/* The blacklist entry of module; the install entry kmod uses for it (the first match, as for softdep). */
const ModprobeEntry *modprobe_find_blacklist(const ModprobeConfig *c, const char *module) _pure_;
const ModprobeEntry *modprobe_find_install(const ModprobeConfig *c, const char *module) _pure_;
/* The value of option key of module: the last one set wins, as for the kernel's parameter parsing.
 * Returns the entry it came from, NULL when not set; *ret_value points into the entry. */
const ModprobeEntry *modprobe_find_option(
        const ModprobeConfig *c,
        const char *module,
        const char *key,
        const char **ret_value);

/* Splits a vfio-pci "ids=" value ("1002:687f,10de:1b80:ffffffff:ffffffff:...") into vendor:device pairs.
 * Entries that do not parse are skipped. Returns the number of pairs stored (at most max). */
size_t vfio_ids_parse(const char *value, uint32_t (*ids)[2], size_t max);
