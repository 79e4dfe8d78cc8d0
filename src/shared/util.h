/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdarg.h>

#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "time-util.h"

/* Strict number parsing: the whole string (trailing whitespace allowed) must be a number in range. */
int safe_atou32(const char *s, int base, uint32_t *ret);
int safe_atoi(const char *s, int *ret);

/* Tables of names indexed by an enum: the name of i ("fallback" outside the table or for a hole in it), and
 * the index of the name s (-EINVAL when s is NULL or not there). For ENUM_to_string()/_from_string(). */
const char *string_table_get(const char *const *table, size_t n, ssize_t i, const char *fallback) _pure_;
ssize_t string_table_lookup(const char *const *table, size_t n, const char *s) _pure_;

/* The value of a hex digit (any case), -EINVAL for anything else. */
int unhexchar(char c) _const_;

/* Removes trailing whitespace and newlines in place. */
char *strstrip_trailing(char *s);
/* Skips leading spaces, tabs and newlines and removes trailing whitespace in place. */
char *strstrip(char *s);
/* Sets *ret to a new copy of s (not NULL) and returns 0; -ENOMEM, *ret untouched. */
int strdup_to(char **ret, const char *s);

/* The char * fields of a struct, by their offsets: freed, or (in a struct whose bytes were copied from
 * src) made copies of src's own, NULL staying NULL. On -ENOMEM every field that could not be copied is
 * NULL, so that freeing the fields is always right. */
void struct_strings_free(void *p, const size_t *offsets, size_t n);
int struct_strings_dup(void *p, const void *src, const size_t *offsets, size_t n);

/* Returns the part of path after the last '/'. */
const char *path_basename(const char *path);

/* A copy of s in which invalid UTF-8 is replaced by U+FFFD, so that JSON encoders emit valid UTF-8. */
int utf8_sanitize(const char *s, char **ret);

/* A copy of s safe to print on a terminal: control characters, escape sequences, backslashes and
 * invalid UTF-8 shown as \n, \t, \xNN; at most max_len input bytes are taken, then "..." is added. */
int str_printable(const char *s, size_t max_len, char **ret);

/* Reads a symlink relative to dirfd (or absolute), returning its target. */
int readlinkat_malloc(int dirfd, const char *path, char **ret);

/* Reads the basename of the target of the link "name" in folder dir. */
int link_target_basename(const char *dir, const char *name, char **ret);

/* Reads a whole small file (at most max_size bytes, else -EFBIG). */
int read_full_file(const char *path, size_t max_size, char **ret, size_t *ret_size);

/* Joins two path parts with one '/'. */
char *path_join(const char *a, const char *b);

/* A path under --root: root "" or NULL gives path itself. */
char *path_under_root(const char *root, const char *path);
/* The folder systemd made for the unit, named by the variable env ($RUNTIME_DIRECTORY, $STATE_DIRECTORY: the
 * first of its ':'-separated paths; -EINVAL when it is not absolute), else path under root. */
int exec_directory(const char *env, const char *root, const char *path, char **ret);
/* The umockdev testbed this process runs in ($UMOCKDEV_DIR, set by umockdev-run and umockdev-wrapper):
 * its folder, or NULL outside one. */
const char *umockdev_testbed(void);
/* Inside a umockdev testbed ($UMOCKDEV_DIR set), whether opening path would reach the host's own file:
 * umockdev redirects a /dev or /proc path only when the testbed has it, and passes the rest through to the
 * host (umockdev, src/libumockdev-preload.c trap_path(): "check_exist"). A simulated run must not open the
 * host's device nodes (/dev/vfio, /dev/kmsg, /dev/iommu): open them only when this is false. Always false
 * outside a testbed. */
bool path_passes_testbed(const char *path);
/* The file to open for udev's database entry name ("+pci:0000:30:00.0"): /run/udev/data/NAME, or inside a
 * umockdev testbed the testbed's, which umockdev redirects only from 0.17.18 on (its commit 4ee8c5c,
 * "preload: Don't read udev cache data from system"; Debian 12 has 0.17.16). */
int udev_db_path(const char *name, char **ret);
/* Creates folder path with mode, and the folders above it that are missing with 0755 (as under a --root
 * that lacks /var/lib or /run); 0 when it exists already. */
int mkdir_with_parents(const char *path, mode_t mode);

/* Appends formatted text to a malloc'd string (*s may be NULL). */
int strextendf(char **s, const char *fmt, ...) _printf_(2, 3);
int vstrextendf(char **s, const char *fmt, va_list ap) _printf_(2, 0);
/* The same with separator before it when *s is not NULL: lists ("a, b, c") built one element at a time. */
int strextendf_with_separator(char **s, const char *separator, const char *fmt, ...) _printf_(3, 4);

/* Appends a copy of s to a NULL-terminated string array; returns -ENOMEM on failure. */
int strv_extend(char ***l, const char *s);
/* The same, taking s over (freed on failure; NULL gives -ENOMEM, for strdup()'s result). Both find the
 * length each time: for a long list, strv_push(). */
int strv_consume(char ***l, char *s);
size_t strv_length(char **l);
bool strv_contains(char **l, const char *s);
/* Appends s, taken over (freed on failure; NULL gives -ENOMEM, for strdup()'s result), to the
 * NULL-terminated array *l that holds *n strings in room for *allocated pointers, doubling the room when
 * needed. Building a long list this way is linear, where strv_extend() finds the length again each time. */
int strv_push(char ***l, size_t *n, size_t *allocated, char *s);
/* strv_push() of a formatted string. */
int strv_pushf(char ***l, size_t *n, size_t *allocated, const char *fmt, ...) _printf_(4, 5);
/* Makes room for need elements of size bytes in *array, which has room for *allocated, doubling the room
 * when it grows, so that appending one element at a time is linear. */
int array_reserve(void **array, size_t *allocated, size_t need, size_t size);
#define ARRAY_RESERVE(array, allocated, need) \
        array_reserve((void **) &(array), &(allocated), (need), sizeof(*(array)))
/* A sorted index of an array's elements by a string field (the char * at offset in each element of size
 * bytes): their positions, by that string (strcasecmp() with icase, else strcmp()), equal strings by
 * position. Elements whose string is NULL are left out. For looking up many keys in a long list. */
typedef struct StrIndex {
        size_t *pos;
        size_t n;
        size_t size, offset;
        bool icase;
} StrIndex;
int str_index_build(StrIndex *ix, const void *base, size_t n, size_t size, size_t offset, bool icase);
/* The position of the first element (the lowest position) whose string equals key, or SIZE_MAX. base is
 * the array the index was built over, as it was then. */
size_t str_index_find(const StrIndex *ix, const void *base, const char *key) _pure_;
void str_index_done(StrIndex *ix);
/* FNV-1a of the first n bytes of s, for hash tables of strings. */
size_t string_hash(const char *s, size_t n) _pure_;
/* Splits s at any of the separators, dropping empty words. */
int strv_split(const char *s, const char *separators, char ***ret);
/* Splits text into its lines, empty ones kept and without their newline, so that index + 1 is the line
 * number; a final newline does not start another line. The count goes to *ret_n when not NULL. */
int strv_split_lines(const char *text, char ***ret, size_t *ret_n);
/* Removes the later copies of strings that occur more than once, keeping the first in place and the
 * order; n is the length (or SIZE_MAX: found here). Sorts an index, so O(n log n), where a strv_contains()
 * per string is quadratic. Returns the new length, or -ENOMEM (-E2BIG past INT_MAX strings). */
int strv_uniq(char **l, size_t n);

/* The arguments of a process (/proc/PID/cmdline, NUL-separated), NULL-terminated. -ESRCH when it is gone,
 * -EACCES when its /proc entry may not be read. */
int process_get_cmdline(pid_t pid, char ***ret);

/* A size for people: "256 MiB" when it is a whole number of the largest unit (B, KiB, MiB, GiB, TiB, PiB,
 * EiB) that is not more than it, else that unit with one decimal, rounded to the nearest ("1.9 GiB",
 * "1.0 MiB" for 1048575). Into buf of
 * size l (FORMAT_BYTES_MAX is enough); returns buf. The one byte formatter of the program. */
#define FORMAT_BYTES_MAX 16
char *format_bytes(char *buf, size_t l, uint64_t n);
