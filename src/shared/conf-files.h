/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "macro.h"

/* Configuration spread over folders of decreasing precedence ("/etc/X" over "/usr/lib/X"), read the way
 * systemd's conf_files_list() (src/basic/conf-files.c) and kmod's conf_files_list() (libkmod-config.c)
 * read it: every file of a matching name, sorted by name, a name in an earlier folder hiding the same name
 * in later ones. The one implementation for every "first file of this name wins" under --root. */

/* systemd's folders for configuration folder X (CONF_PATHS() in systemd's src/basic/def.h, with the /lib
 * one of a split-/usr build, as Debian 12's systemd 252 has it: libsystemd-shared-252.so lists
 * /lib/systemd/network): "/etc/X", "/run/X", "/usr/local/lib/X", "/usr/lib/X", "/lib/X". */
#define CONF_PATHS(x) \
        { "/etc/" x, "/run/" x, "/usr/local/lib/" x, "/usr/lib/" x, "/lib/" x }

/* The files in folders dirs (n_dirs of them, highest precedence first) under root (NULL or "": /) whose
 * names match the fnmatch(3) pattern. Each name once: from the first folder that has it. Returned sorted by
 * name, as paths without root ("/etc/modprobe.d/a.conf"); an empty list when there is none. Names starting
 * with '.' and folders are left out; a link to /dev/null hides its name and is left out too (systemd's
 * masking). Missing or unreadable folders are passed over. */
int conf_files_list(
        const char *root,
        const char *const *dirs,
        size_t n_dirs,
        const char *pattern,
        char ***ret);

/* Reads each file of conf_files_list() (at most CONF_FILE_MAX bytes; one that cannot be read, too big or a
 * dangling link, is passed over as systemd and kmod pass it over) and hands its path without root and its
 * text to parse, in order. Stops at and returns parse's first negative return; -ENOMEM. */
#define CONF_FILE_MAX (1024U * 1024U)
typedef int (*ConfFileParser)(const char *path, const char *text, void *userdata);
int conf_files_parse(
        const char *root,
        const char *const *dirs,
        size_t n,
        const char *glob,
        ConfFileParser f,
        void *u);
