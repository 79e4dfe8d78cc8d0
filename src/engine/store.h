/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include "macro.h"

/* The enrolment store: which devices may be let in.
 *
 * The store is a folder ($STATE_DIRECTORY, else EGPUCTL_STATE_DIR under the root, store_dir_default())
 * holding one file per record: <dir>/devices/<key>.conf, folder mode 0700, file mode 0600. The key is
 *   - for a Thunderbolt device, its unique_id: only [A-Za-z0-9-], 1..64 characters, and not starting
 *     with "pci-" (which is taken by the keys below); anything else is -EINVAL, so that a device's
 *     unique_id can never become a path such as "../x";
 *   - for a PCIe-attached eGPU enrolled by port, "pci-" and 16 lowercase hex digits: the 64-bit
 *     FNV-1a hash of the port path (store_key_from_port()).
 *
 * Record format: text, one "key=value" per line, each line ending in "\n" (a file whose last line has
 * no newline is taken as truncated and refused). Lines that are empty or start with '#' are comments.
 * No spaces around '='; the value is everything after the first '=', exactly. Values are escaped:
 * "\\" for a backslash, "\n", "\t", and "\xNN" for any other byte below 0x20, 0x7f or above 0x7e, so
 * that a file is plain printable ASCII and a value can never inject a line. Reading accepts the same
 * escapes (and raw bytes >= 0x80), refuses raw control characters, bad escapes and "\x00".
 *
 *   # egpuctl enrolment record
 *   type=thunderbolt                  thunderbolt|pcie                            (required)
 *   unique_id=c9030000-0060-...       thunderbolt only; equals the file's key     (required)
 *   port=pci0000:00/0000:00:1c.0/...  pcie only: the port path; its hash is the key (required)
 *   ids=1002:687f:1002:0b36           pcie only: vendor:device[:subvendor:subdevice], 4 hex digits each
 *   name=1-1                          the kernel's device name at enrolment
 *   vendor_name=Blackmagic Design     from the device: any bytes, escaped
 *   device_name=eGPU Pro              likewise
 *   vendor=0x0004                     Thunderbolt vendor id, hex
 *   device=0xa153                     Thunderbolt device id, hex
 *   policy=auto                       auto|manual; manual when absent
 *   enrolled=1764000000               seconds since the epoch (realtime); 0 when absent
 *   key=<64 hex digits>               thunderbolt only, for secure-level domains: 32 random bytes
 *   key_approved=1                    the device accepted the key once (authorized with 1), so later
 *                                     connects challenge it (authorized with 2); 0 when absent
 *   vm=100                            the Proxmox VM the eGPU belongs to: the daemon plugs it into that VM
 *                                     when it appears while the VM runs (its QMP socket
 *                                     /var/run/qemu-server/VMID.qmp)
 *   qmp=/run/vm/gpu.qmp               or the QMP socket of another QEMU's VM it belongs to
 *   mapping=egpus                     the Proxmox PCI mapping that holds it (vm attach --mapping, --pool):
 *                                     the hookscript keeps this node's entries of that mapping to the
 *                                     eGPUs present whose records name it
 *
 * Limits: a record file over STORE_RECORD_MAX bytes, or a value over STORE_VALUE_MAX bytes (once
 * unescaped), is refused; store_save() refuses to write what store_load() would refuse to read.
 *
 * Loading: a record that cannot be parsed (bad line, duplicate key, missing or mismatched field, a
 * file name that is not a valid key, not a regular file, too big) is reported as a StoreError with its
 * path and line (0: the whole file) and skipped; the others still load. An unknown key is reported as
 * a StoreError with skipped=false and the record is loaded anyway, so that records written by a newer
 * version still work. Files whose name starts with '.' (the temporary files of store_save(), left by a
 * crash) or does not end in ".conf" are ignored.
 *
 * Writing: store_save() writes a temporary file ".<key>.conf.tmp-XXXXXXXXXXXXXXXX" in the same folder
 * (O_CREAT|O_EXCL, 0600), fsyncs it, renames it over the record and fsyncs the folder. On any error
 * before the rename the temporary file is removed and the old record is untouched; an error from the
 * final fsync of the folder means the new record is in place but may not survive a crash.
 *
 * Not thread-safe, and not safe against concurrent writers in other processes: take the lock
 * (lock.h) around changes. */

#define STORE_RECORD_MAX (64U * 1024U)
#define STORE_VALUE_MAX  (4U * 1024U)
#define STORE_KEY_SIZE   32U

typedef enum EnrollPolicy {
        ENROLL_POLICY_AUTO,   /* authorised by the daemon when it appears */
        ENROLL_POLICY_MANUAL, /* known, but only authorised on request */
        _ENROLL_POLICY_MAX,
        _ENROLL_POLICY_INVALID = -EINVAL,
} EnrollPolicy;

typedef enum EnrollType {
        ENROLL_THUNDERBOLT,
        ENROLL_PCIE,
        _ENROLL_TYPE_MAX,
        _ENROLL_TYPE_INVALID = -EINVAL,
} EnrollType;

typedef struct Enrollment {
        EnrollType type;
        char *unique_id; /* thunderbolt */
        char *name;      /* may be NULL (not written) */
        char *vendor_name;
        char *device_name;
        uint32_t vendor, device; /* thunderbolt ids */
        EnrollPolicy policy;
        int64_t enrolled; /* seconds since the epoch, >= 0 */
        bool has_key;
        uint8_t key[STORE_KEY_SIZE];
        bool key_approved; /* the device holds the key: challenge it (2) rather than store it (1) */
        char *port;        /* pcie */
        char *vm;          /* the Proxmox VM id it belongs to, NULL when none */
        char *qmp;         /* the QMP socket of the VM it belongs to, NULL when none (or a Proxmox vm) */
        char *mapping;     /* the Proxmox PCI mapping that holds it, NULL when none */
        uint32_t pci_vendor, pci_device, pci_subsystem_vendor, pci_subsystem_device; /* <= 0xffff */
        bool has_subsystem;
        char *path; /* the record's file, set by store_load() */
} Enrollment;

/* One problem found by store_load(). error is a -errno (-EBADMSG for a parse error); path and message
 * are raw (the path holds a file name from the folder): print them with str_printable(). */
typedef struct StoreError {
        char *path;
        unsigned line; /* 1-based; 0 when about the whole file */
        int error;
        char *message;
        bool skipped; /* the record was not loaded; false for warnings */
} StoreError;

const char *enroll_policy_to_string(EnrollPolicy p) _pure_;
EnrollPolicy enroll_policy_from_string(const char *s) _pure_;
const char *enroll_type_to_string(EnrollType t) _pure_;
EnrollType enroll_type_from_string(const char *s) _pure_;

/* $STATE_DIRECTORY (its first entry, when systemd lists several) when set and not empty, else
 * EGPUCTL_STATE_DIR (/var/lib/egpuctl) under root ("" or NULL: the host's; --root DIR gives
 * DIR/var/lib/egpuctl, so that a run under another root never touches the host's store). -EINVAL when
 * $STATE_DIRECTORY is not an absolute path. */
int store_dir_default(const char *root, char **ret);

/* Whether s may be a Thunderbolt unique_id used as a key (see above). */
bool store_unique_id_valid(const char *s) _pure_;
/* Whether s is a Proxmox VM id: 100 to 999999999. */
bool store_vmid_valid(const char *s) _pure_;
/* Whether s is a configuration id as Proxmox takes one for a mapping (format pve-configid, $CONFIGID_RE of
 * pve-common's src/PVE/JSONSchema.pm: a letter, then letters, digits, '_' and '-', at least two characters
 * in all). */
bool store_mapping_valid(const char *s) _pure_;
/* Whether s is a valid record key: a valid unique_id or "pci-" and 16 lowercase hex digits. */
bool store_key_valid(const char *s) _pure_;
/* The key of a PCIe record for port (not empty, at most STORE_VALUE_MAX bytes). */
int store_key_from_port(const char *port, char **ret);

/* A new record with policy manual, all else empty. */
int enrollment_new(EnrollType type, Enrollment **ret);
/* Sets the ids of a PCIe record from "VVVV:DDDD[:SSSS:SSSS]" (pci_ids_parse()): the record's ids= and
 * enroll's --ids go through this one parser. -EINVAL when it does not parse; e is unchanged then. */
int enrollment_set_ids(Enrollment *e, const char *s);
Enrollment *enrollment_free(Enrollment *e); /* also wipes the key */
DEFINE_TRIVIAL_CLEANUP_FUNC(Enrollment *, enrollment_free);
void enrollments_free(Enrollment **l, size_t n);

/* The record's key (file name without ".conf"); -EINVAL when the unique_id or port is invalid. */
int enrollment_key(const Enrollment *e, char **ret);
/* Fills e->key with 32 bytes from getrandom() and sets has_key. */
int enrollment_generate_key(Enrollment *e);
/* The key as 64 lowercase hex digits; -ENODATA when e has none. */
int enrollment_key_hex(const Enrollment *e, char ret[static 2 * STORE_KEY_SIZE + 1]);

/* The Thunderbolt record with this unique_id, the PCIe record with this port; NULL when none. */
const Enrollment *enrollments_find(Enrollment **l, size_t n, const char *unique_id);
const Enrollment *enrollments_find_port(Enrollment **l, size_t n, const char *port);

/* Loads all records of <dir>/devices, sorted by file name. A missing folder is an empty store. Returns
 * 0 even when some records were skipped (see *ret_errors); < 0 only when the folder cannot be read or
 * on -ENOMEM. ret_errors and ret_n_errors may be NULL. */
int store_load(
        const char *dir,
        Enrollment ***ret,
        size_t *ret_n,
        StoreError **ret_errors,
        size_t *ret_n_errors);
void store_errors_free(StoreError *l, size_t n);
/* Parses the text of one record file <stem>.conf at path (size bytes, need not end in a NUL) as store_load()
 * does, for the fuzzer (fuzz/fuzz-store-record.c). Returns 0 with *ret set or NULL (skipped), < 0 only on
 * -ENOMEM; the errors found go to *ret_errors (free with store_errors_free()). */
int store_record_parse(
        const char *path,
        const char *stem,
        const char *text,
        size_t size,
        Enrollment **ret,
        StoreError **ret_errors,
        size_t *ret_n_errors);

/* Writes e atomically as <dir>/devices/<key>.conf, creating dir and dir/devices (0700) if missing.
 * -EINVAL for an invalid record, -E2BIG when a value is over STORE_VALUE_MAX, -EFBIG when the record
 * would be over STORE_RECORD_MAX. e->path is not used. */
int store_save(const char *dir, const Enrollment *e);

/* Removes <dir>/devices/<key>.conf; -ENOENT when there is none, -EINVAL for an invalid key. */
int store_remove(const char *dir, const char *key);

/* Test hook, for simulating a full disk: the n-th (1-based) write() or fsync() done by store_save()
 * from now on fails with -error (a failing write() first writes half of its bytes, like a disk that
 * fills up in the middle); n = 0 turns it off. For one record store_save() does, in this order: one
 * write() per chunk of the file (one in practice), fsync() of the file, fsync() of the folder. */
void store_set_fault_injection(unsigned n, int error);
