/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* Files that egpuctl writes to a system, and a manifest of them, so that a second run changes
 * nothing, an uninstall removes only what egpuctl wrote, and files a person edited are kept.
 *
 * The manifest is INSTALL_MANIFEST_PATH under the root, one entry a line:
 *     file SHA256 PATH      a regular file egpuctl wrote, with the SHA-256 of what it wrote
 *     link TARGET PATH      a symbolic link egpuctl made
 *     dir PATH              a folder egpuctl created (removed again when empty)
 * PATH is absolute (as on the target system, without the root) and contains no whitespace; '#' lines
 * are comments. A file whose content no longer has the recorded hash was edited: it is neither
 * overwritten nor removed. */

#define INSTALL_MANIFEST_PATH "/var/lib/egpuctl/installed"
#define INSTALL_MAX_FILE_SIZE (1024U * 1024U)

typedef enum InstallKind {
        INSTALL_FILE,
        INSTALL_LINK,
} InstallKind;

/* What should be there. */
typedef struct InstallItem {
        InstallKind kind;
        char *path;    /* absolute, without the root */
        char *content; /* INSTALL_FILE */
        mode_t mode;   /* INSTALL_FILE: 0644 when 0 */
        char *target;  /* INSTALL_LINK */
} InstallItem;

void install_item_done(InstallItem *i);
/* Appends an item (copies the strings) to a growing array. */
int install_items_add_file(
        InstallItem **items,
        size_t *n,
        const char *path,
        const char *content,
        mode_t mode);
int install_items_add_link(InstallItem **items, size_t *n, const char *path, const char *target);
void install_items_free(InstallItem *items, size_t n);

typedef enum InstallAction {
        INSTALL_UNCHANGED,    /* already as it should be */
        INSTALL_CREATE,       /* written anew */
        INSTALL_UPDATE,       /* egpuctl's own file, unchanged since, rewritten with new content */
        INSTALL_REMOVE,       /* egpuctl's own file removed (uninstall) */
        INSTALL_KEEP_EDITED,  /* egpuctl wrote it, a person changed it since: kept as it is */
        INSTALL_KEEP_FOREIGN, /* there before and not egpuctl's: kept as it is */
        INSTALL_FORGET,       /* in the manifest but removed by someone: only forgotten (uninstall) */
        _INSTALL_ACTION_MAX,
} InstallAction;

const char *install_action_to_string(InstallAction a) _pure_;
/* Whether the action writes or removes something on disk. */
bool install_action_changes(InstallAction a) _pure_;

typedef struct InstallResult {
        char *path;
        InstallKind kind;
        InstallAction action;
        char *old_text; /* the content on disk (for a link, its target), NULL when absent */
        char *new_text; /* what it is after the action, NULL when absent */
} InstallResult;

void install_results_free(InstallResult *r, size_t n);

/* Writes content to the file full (a real path) through a temporary file in the same folder, fsync and
 * rename, with mode. The folder must exist. */
int install_write_atomic(const char *full, const char *content, mode_t mode);
/* Creates the folders above full (a real path) that are missing, with mode 0755. */
int install_mkdir_parents(const char *full);

/* Installs items under root (NULL or "" or "/": the real system), or with uninstall set removes what
 * the manifest lists (items then unused). With dry_run nothing is written. Returns the outcome for each
 * path in *ret (in the order of items, then manifest entries); the manifest itself is not listed.
 * Returns -errno on the first failure; what was done before it is in the manifest. */
int install_apply(
        const char *root,
        const InstallItem *items,
        size_t n_items,
        bool uninstall,
        bool dry_run,
        InstallResult **ret,
        size_t *ret_n);
