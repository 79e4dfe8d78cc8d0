/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* The guest's own files, read under a root folder ("" or "/" for the running system). */

/* root + path; path must be absolute. */
int guest_root_path(const char *root, const char *path, char **ret);
/* Opens root + path for reading (O_CLOEXEC); -errno of fopen() when it cannot. */
int guest_root_fopen(const char *root, const char *path, FILE **ret);

typedef struct OsRelease {
        char *id;          /* "ubuntu", "debian" */
        char *id_like;     /* "debian", may be NULL */
        char *version_id;  /* "24.04", may be NULL */
        char *pretty_name; /* may be NULL */
} OsRelease;

void os_release_done(OsRelease *o);

/* Reads etc/os-release, else usr/lib/os-release, under root. -ENOENT when neither exists. */
int os_release_read(const char *root, OsRelease *ret);

/* The same from an open os-release file (exposed for fuzz-guest). */
int os_release_parse(FILE *f, OsRelease *ret);

/* Parses one os-release line's value: strips quotes and shell escapes (exposed for tests). */
int os_release_unquote(const char *value, char **ret);

/* A one-line instruction that installs the kernel module and firmware for a GPU of this vendor on
 * that distribution, e.g. "apt-get install linux-modules-extra-$(uname -r) linux-firmware" on
 * Ubuntu. os may be NULL (unknown distribution). Always succeeds unless out of memory. */
int gpu_driver_package_hint(const OsRelease *os, uint16_t vendor, char **ret);

typedef struct GuestUser {
        char *name;
        uid_t uid;
        gid_t gid;     /* primary group */
        gid_t *groups; /* supplementary groups from etc/group, primary included */
        size_t n_groups, n_groups_allocated;
} GuestUser;

void guest_user_done(GuestUser *u);

/* Looks the user up in etc/passwd under root, by name (when name is not NULL) or uid, and collects
 * its groups from etc/group. -ENOENT when not there. */
int guest_user_lookup(const char *root, const char *name, uid_t uid, GuestUser *ret);

/* The name of a group in etc/group under root; -ENOENT when not there. */
int guest_group_name(const char *root, gid_t gid, char **ret);

/* What those two read, from open etc/passwd and etc/group files (exposed for fuzz-guest): the user's
 * line (-ENOENT when none; no groups yet); adding the groups that list u->name as a member (each group
 * once, the first in place); a group's name. */
int guest_passwd_find(FILE *f, const char *name, uid_t uid, GuestUser *ret);
int guest_group_add_memberships(FILE *f, GuestUser *u);
int guest_group_find_name(FILE *f, gid_t gid, char **ret);

bool guest_user_in_group(const GuestUser *u, gid_t gid);

/* Whether the user can open a device node for reading and writing, from its owner, group and mode
 * (ACLs are not looked at: a service user gets none from logind). */
bool guest_user_can_open(const GuestUser *u, uid_t node_uid, gid_t node_gid, unsigned mode);
