/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "config.h"
#include "pci-function.h"
#include "store.h"
#include "util.h"

#define DEVICES_DIR    "devices"
#define RECORD_SUFFIX  ".conf"
#define UNIQUE_ID_MAX  64U
#define PCI_KEY_PREFIX "pci-"

static const char *const policy_table[_ENROLL_POLICY_MAX] = {
        [ENROLL_POLICY_AUTO] = "auto",
        [ENROLL_POLICY_MANUAL] = "manual",
};

static const char *const type_table[_ENROLL_TYPE_MAX] = {
        [ENROLL_THUNDERBOLT] = "thunderbolt",
        [ENROLL_PCIE] = "pcie",
};

const char *enroll_policy_to_string(EnrollPolicy p) {
        return string_table_get(policy_table, _ENROLL_POLICY_MAX, p, NULL);
}

EnrollPolicy enroll_policy_from_string(const char *s) {
        return (EnrollPolicy) string_table_lookup(policy_table, _ENROLL_POLICY_MAX, s);
}

const char *enroll_type_to_string(EnrollType t) {
        return string_table_get(type_table, _ENROLL_TYPE_MAX, t, NULL);
}

EnrollType enroll_type_from_string(const char *s) {
        return (EnrollType) string_table_lookup(type_table, _ENROLL_TYPE_MAX, s);
}

/* Frees a buffer that may hold key material, wiping it first. */
static void erase_and_freep(char **p) {
        if (*p) {
                explicit_bzero(*p, strlen(*p));
                free(*p);
        }
}

static void close_dirp(DIR **d) {
        closedirp(d);
}

int store_dir_default(const char *root, char **ret) {
        return exec_directory("STATE_DIRECTORY", root, EGPUCTL_STATE_DIR, ret);
}

static bool key_chars_valid(const char *s) {
        size_t n = strlen(s);

        if (n < 1 || n > UNIQUE_ID_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '-'))
                        return false;
        return true;
}

bool store_unique_id_valid(const char *s) {
        return s && key_chars_valid(s) && strncasecmp(s, PCI_KEY_PREFIX, strlen(PCI_KEY_PREFIX)) != 0;
}

bool store_vmid_valid(const char *s) {
        uint32_t v;

        /* pve-common's pve-vmid: an integer from 100 to 999999999 (src/PVE/JSONSchema.pm) */
        return s && s[0] != '0' && safe_atou32(s, 10, &v) >= 0 && v >= 100 && v <= 999999999;
}

bool store_mapping_valid(const char *s) {
        /* $CONFIGID_RE of pve-common's src/PVE/JSONSchema.pm: qr/[a-z][a-z0-9_-]+/i */
        if (!s || !isalpha((unsigned char) s[0]) || !s[1])
                return false;
        for (const char *c = s + 1; *c; c++)
                if (!isalnum((unsigned char) *c) && *c != '_' && *c != '-')
                        return false;
        return true;
}

bool store_key_valid(const char *s) {
        const char *h;

        if (!s)
                return false;
        if (store_unique_id_valid(s))
                return true;
        if (!strneq(s, PCI_KEY_PREFIX, strlen(PCI_KEY_PREFIX)))
                return false;
        h = s + strlen(PCI_KEY_PREFIX);
        if (strlen(h) != 16)
                return false;
        return strspn(h, "0123456789abcdef") == 16;
}

int store_key_from_port(const char *port, char **ret) {
        uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a, 64 bit */
        char *k;

        if (!port || !*port || strlen(port) > STORE_VALUE_MAX)
                return -EINVAL;
        for (const unsigned char *p = (const unsigned char *) port; *p; p++) {
                h ^= *p;
                h *= UINT64_C(0x100000001b3);
        }
        if (asprintf(&k, PCI_KEY_PREFIX "%016" PRIx64, h) < 0)
                return -ENOMEM;
        *ret = k;
        return 0;
}

int enrollment_new(EnrollType type, Enrollment **ret) {
        Enrollment *e;

        if (type < 0 || type >= _ENROLL_TYPE_MAX)
                return -EINVAL;
        e = calloc(1, sizeof(Enrollment));
        if (!e)
                return -ENOMEM;
        e->type = type;
        e->policy = ENROLL_POLICY_MANUAL;
        *ret = e;
        return 0;
}

Enrollment *enrollment_free(Enrollment *e) {
        if (!e)
                return NULL;
        free(e->unique_id);
        free(e->name);
        free(e->vendor_name);
        free(e->device_name);
        free(e->port);
        free(e->vm);
        free(e->qmp);
        free(e->mapping);
        free(e->path);
        explicit_bzero(e->key, sizeof(e->key));
        return mfree(e);
}

void enrollments_free(Enrollment **l, size_t n) {
        if (!l)
                return;
        for (size_t i = 0; i < n; i++)
                enrollment_free(l[i]);
        free(l);
}

int enrollment_key(const Enrollment *e, char **ret) {
        switch (e->type) {
        case ENROLL_THUNDERBOLT:
                if (!store_unique_id_valid(e->unique_id))
                        return -EINVAL;
                return strdup_to(ret, e->unique_id);
        case ENROLL_PCIE:
                return store_key_from_port(e->port, ret);
        default:
                return -EINVAL;
        }
}

int enrollment_generate_key(Enrollment *e) {
        size_t n = 0;

        while (n < sizeof(e->key)) {
                ssize_t k = getrandom(e->key + n, sizeof(e->key) - n, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                n += (size_t) k;
        }
        e->has_key = true;
        return 0;
}

int enrollment_key_hex(const Enrollment *e, char ret[static 2 * STORE_KEY_SIZE + 1]) {
        static const char hex[] = "0123456789abcdef";

        if (!e->has_key)
                return -ENODATA;
        for (size_t i = 0; i < sizeof(e->key); i++) {
                ret[2 * i] = hex[e->key[i] >> 4];
                ret[2 * i + 1] = hex[e->key[i] & 0xf];
        }
        ret[2 * sizeof(e->key)] = 0;
        return 0;
}

const Enrollment *enrollments_find(Enrollment **l, size_t n, const char *unique_id) {
        for (size_t i = 0; unique_id && i < n; i++)
                if (l[i]->type == ENROLL_THUNDERBOLT && streq_ptr(l[i]->unique_id, unique_id))
                        return l[i];
        return NULL;
}

const Enrollment *enrollments_find_port(Enrollment **l, size_t n, const char *port) {
        for (size_t i = 0; port && i < n; i++)
                if (l[i]->type == ENROLL_PCIE && streq_ptr(l[i]->port, port))
                        return l[i];
        return NULL;
}

void store_errors_free(StoreError *l, size_t n) {
        if (!l)
                return;
        for (size_t i = 0; i < n; i++) {
                free(l[i].path);
                free(l[i].message);
        }
        free(l);
}

/* ---- escaping ---- */

static bool byte_is_raw(unsigned char c) {
        return c >= 0x20 && c < 0x7f && c != '\\';
}

/* Appends the escaped value to buf (which has room for 4 bytes per input byte), returns the end. */
static char *escape_append(char *buf, const char *s) {
        static const char hex[] = "0123456789abcdef";

        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (byte_is_raw(*p))
                        *buf++ = (char) *p;
                else if (*p == '\\') {
                        *buf++ = '\\';
                        *buf++ = '\\';
                } else if (*p == '\n') {
                        *buf++ = '\\';
                        *buf++ = 'n';
                } else if (*p == '\t') {
                        *buf++ = '\\';
                        *buf++ = 't';
                } else {
                        *buf++ = '\\';
                        *buf++ = 'x';
                        *buf++ = hex[*p >> 4];
                        *buf++ = hex[*p & 0xf];
                }
        }
        return buf;
}

/* Unescapes s in place. On error, *ret_msg says why. */
static int unescape_in_place(char *s, const char **ret_msg) {
        char *w = s;

        for (const char *p = s; *p; p++) {
                unsigned char c = (unsigned char) *p;
                int a, b;

                if (c < 0x20 || c == 0x7f) {
                        *ret_msg = "raw control character in value";
                        return -EBADMSG;
                }
                if (c != '\\') {
                        *w++ = (char) c;
                        continue;
                }
                switch (*++p) {
                case '\\':
                        *w++ = '\\';
                        break;
                case 'n':
                        *w++ = '\n';
                        break;
                case 't':
                        *w++ = '\t';
                        break;
                case 'x':
                        a = p[1] ? unhexchar(p[1]) : -EINVAL;
                        b = a >= 0 && p[2] ? unhexchar(p[2]) : -EINVAL;
                        if (a < 0 || b < 0) {
                                *ret_msg = "bad \\x escape in value";
                                return -EBADMSG;
                        }
                        if (a == 0 && b == 0) {
                                *ret_msg = "\\x00 in value";
                                return -EBADMSG;
                        }
                        *w++ = (char) (a << 4 | b);
                        p += 2;
                        break;
                default:
                        *ret_msg = "bad escape in value";
                        return -EBADMSG;
                }
        }
        *w = 0;
        return 0;
}

/* ---- loading ---- */

typedef struct ErrorList {
        StoreError *l;
        size_t n, allocated; /* l grows by doubling */
} ErrorList;

_printf_(6, 7) static int error_add(
        ErrorList *el,
        const char *path,
        unsigned line,
        int error,
        bool skipped,
        const char *fmt,
        ...) {
        va_list ap;
        char *p, *m;
        int k;

        p = strdup(path);
        if (!p)
                return -ENOMEM;
        va_start(ap, fmt);
        k = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (k < 0) {
                free(p);
                return -ENOMEM;
        }
        if (ARRAY_RESERVE(el->l, el->allocated, el->n + 1) < 0) {
                free(p);
                free(m);
                return -ENOMEM;
        }
        el->l[el->n++] = (StoreError){
                .path = p,
                .line = line,
                .error = error,
                .message = m,
                .skipped = skipped,
        };
        return 0;
}

static int parse_int64(const char *s, int64_t *ret) {
        char *end = NULL;
        long long v;

        if (!*s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno > 0)
                return -errno;
        if (*end)
                return -EINVAL;
        *ret = (int64_t) v;
        return 0;
}

int enrollment_set_ids(Enrollment *e, const char *s) {
        PciIds ids;
        int r;

        r = pci_ids_parse(s, &ids);
        if (r < 0)
                return r;
        e->pci_vendor = ids.vendor;
        e->pci_device = ids.device;
        e->has_subsystem = ids.has_subsystem;
        e->pci_subsystem_vendor = ids.subsystem_vendor;
        e->pci_subsystem_device = ids.subsystem_device;
        return 0;
}

static int parse_key_hex(const char *s, uint8_t key[static STORE_KEY_SIZE]) {
        if (strlen(s) != 2 * STORE_KEY_SIZE)
                return -EINVAL;
        for (size_t i = 0; i < STORE_KEY_SIZE; i++) {
                int a = unhexchar(s[2 * i]), b = unhexchar(s[2 * i + 1]);
                if (a < 0 || b < 0)
                        return -EINVAL;
                key[i] = (uint8_t) (a << 4 | b);
        }
        return 0;
}

enum {
        F_TYPE,
        F_UNIQUE_ID,
        F_PORT,
        F_IDS,
        F_NAME,
        F_VENDOR_NAME,
        F_DEVICE_NAME,
        F_VENDOR,
        F_DEVICE,
        F_POLICY,
        F_ENROLLED,
        F_KEY,
        F_KEY_APPROVED,
        F_VM,
        F_QMP,
        F_MAPPING,
        _F_MAX,
};

/* Each field's name, and what field_set() refusing its value means. */
static const struct {
        const char *name;
        const char *invalid;
} field_table[_F_MAX] = {
        [F_TYPE] = { "type", "unknown type" },
        [F_UNIQUE_ID] = { "unique_id" },
        [F_PORT] = { "port" },
        [F_IDS] = { "ids", "invalid ids, expected vendor:device[:subvendor:subdevice] in hex" },
        [F_NAME] = { "name" },
        [F_VENDOR_NAME] = { "vendor_name" },
        [F_DEVICE_NAME] = { "device_name" },
        [F_VENDOR] = { "vendor", "invalid hex number" },
        [F_DEVICE] = { "device", "invalid hex number" },
        [F_POLICY] = { "policy", "unknown policy" },
        [F_ENROLLED] = { "enrolled", "invalid time" },
        [F_KEY] = { "key", "invalid key, expected 64 hex digits" },
        [F_KEY_APPROVED] = { "key_approved", "invalid key_approved, expected 0 or 1" },
        [F_VM] = { "vm", "invalid vm, expected a Proxmox VM id (100 to 999999999)" },
        [F_QMP] = { "qmp", "invalid qmp, expected the absolute path of a QMP socket" },
        [F_MAPPING] = { "mapping", "invalid mapping, expected a Proxmox mapping id" },
};

static bool field_name_valid(const char *s, size_t n) {
        if (n == 0 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
                        return false;
        return true;
}

/* Sets one field from an unescaped value. Returns -EBADMSG for a bad value (field_table[f].invalid says
 * why). */
static int field_set(Enrollment *e, int f, const char *v) {
        char **s = NULL;
        int r;

        switch (f) {
        case F_TYPE:
                r = enroll_type_from_string(v);
                if (r < 0)
                        return -EBADMSG;
                e->type = r;
                return 0;
        case F_POLICY:
                r = enroll_policy_from_string(v);
                if (r < 0)
                        return -EBADMSG;
                e->policy = r;
                return 0;
        case F_VENDOR:
        case F_DEVICE:
                return safe_atou32(v, 16, f == F_VENDOR ? &e->vendor : &e->device) < 0 ? -EBADMSG : 0;
        case F_ENROLLED:
                return parse_int64(v, &e->enrolled) < 0 ? -EBADMSG : 0;
        case F_IDS:
                return enrollment_set_ids(e, v) < 0 ? -EBADMSG : 0;
        case F_KEY:
                if (parse_key_hex(v, e->key) < 0)
                        return -EBADMSG;
                e->has_key = true;
                return 0;
        case F_KEY_APPROVED:
                if (!streq(v, "0") && !streq(v, "1"))
                        return -EBADMSG;
                e->key_approved = streq(v, "1");
                return 0;
        case F_VM:
                if (!store_vmid_valid(v))
                        return -EBADMSG;
                s = &e->vm;
                break;
        case F_QMP:
                if (v[0] != '/')
                        return -EBADMSG;
                s = &e->qmp;
                break;
        case F_MAPPING:
                if (!store_mapping_valid(v))
                        return -EBADMSG;
                s = &e->mapping;
                break;
        case F_UNIQUE_ID:
                s = &e->unique_id;
                break;
        case F_PORT:
                s = &e->port;
                break;
        case F_NAME:
                s = &e->name;
                break;
        case F_VENDOR_NAME:
                s = &e->vendor_name;
                break;
        case F_DEVICE_NAME:
                s = &e->device_name;
                break;
        default:
                return -EINVAL;
        }
        *s = strdup(v);
        if (!*s)
                return -ENOMEM;
        return 0;
}

/* In record_parse(): reports a parse error at line and skips the record. */
#define skip(line, ...) error_add(el, path, (line), -EBADMSG, true, __VA_ARGS__)

/* Parses one record. Returns 0 and sets *ret to the record or to NULL when it was skipped (and an error
 * was added), < 0 only on -ENOMEM. buf is modified. */
static int record_parse(
        const char *path,
        const char *stem,
        char *buf,
        size_t size,
        ErrorList *el,
        Enrollment **ret) {
        _cleanup_(enrollment_freep) Enrollment *e = NULL;
        _cleanup_free_ char *key = NULL;
        bool seen[_F_MAX] = {};
        unsigned line = 0;
        const char *msg = "invalid value";
        char *p = buf;
        int r;

        *ret = NULL;
        if (memchr(buf, 0, size))
                return skip(0, "NUL byte in record");
        if (size > 0 && buf[size - 1] != '\n') {
                unsigned n = 1;
                for (size_t i = 0; i < size; i++)
                        n += buf[i] == '\n';
                return skip(n, "record truncated: no newline at the end");
        }

        r = enrollment_new(ENROLL_THUNDERBOLT, &e);
        if (r < 0)
                return r;
        e->type = _ENROLL_TYPE_INVALID;

        while (*p) {
                char *nl = strchr(p, '\n'), *eq, *v;
                int f = -1;

                *nl = 0;
                line++;
                v = p;
                p = nl + 1;
                if (*v == 0 || *v == '#')
                        continue;
                eq = strchr(v, '=');
                if (!eq || !field_name_valid(v, (size_t) (eq - v)))
                        return skip(line, "expected key=value");
                *eq = 0;
                for (size_t i = 0; i < _F_MAX; i++)
                        if (streq(v, field_table[i].name))
                                f = (int) i;
                if (f < 0) {
                        r = error_add(el, path, line, -EBADMSG, false, "unknown key \"%s\", ignored", v);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (seen[f])
                        return skip(line, "duplicate key \"%s\"", v);
                seen[f] = true;
                v = eq + 1;
                r = unescape_in_place(v, &msg);
                if (r >= 0 && strlen(v) > STORE_VALUE_MAX) {
                        msg = "value too long";
                        r = -EBADMSG;
                }
                if (r >= 0) {
                        r = field_set(e, f, v);
                        if (r == -EBADMSG)
                                msg = field_table[f].invalid;
                }
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return error_add(el, path, line, r, true, "%s: %s", field_table[f].name, msg);
        }

        if (!seen[F_TYPE])
                return skip(0, "no type=");
        if (e->type == ENROLL_THUNDERBOLT) {
                if (!seen[F_UNIQUE_ID])
                        return skip(0, "no unique_id=");
                if (seen[F_PORT] || seen[F_IDS])
                        return skip(0, "port= or ids= in a thunderbolt record");
        } else {
                if (!seen[F_PORT] || !seen[F_IDS])
                        return skip(0, "no port= or no ids=");
                if (seen[F_UNIQUE_ID] || seen[F_KEY] || seen[F_KEY_APPROVED])
                        return skip(0, "unique_id=, key= or key_approved= in a pcie record");
        }
        r = enrollment_key(e, &key);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return skip(0, "invalid unique_id or port");
        if (!streq(key, stem))
                return skip(0, "file name does not match the record (key %s)", key);

        e->path = strdup(path);
        if (!e->path)
                return -ENOMEM;
        *ret = TAKE_PTR(e);
        return 0;
}

#undef skip

int store_record_parse(
        const char *path,
        const char *stem,
        const char *text,
        size_t size,
        Enrollment **ret,
        StoreError **ret_errors,
        size_t *ret_n_errors) {
        _cleanup_free_ char *buf = NULL;
        ErrorList el = {};
        int r;

        buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, text, size);
        buf[size] = 0;
        r = record_parse(path, stem, buf, size, &el, ret);
        explicit_bzero(buf, size);
        *ret_errors = el.l;
        *ret_n_errors = el.n;
        return r;
}

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int store_load(
        const char *dir,
        Enrollment ***ret,
        size_t *ret_n,
        StoreError **ret_errors,
        size_t *ret_n_errors) {
        _cleanup_(close_dirp) DIR *d = NULL;
        _cleanup_free_ char *devices = NULL;
        _cleanup_strv_free_ char **names = NULL;
        ErrorList el = {};
        Enrollment **l = NULL;
        size_t n = 0, n_names = 0, allocated_names = 0;
        struct dirent *de;
        int r;

        devices = path_join(dir, DEVICES_DIR);
        if (!devices)
                return -ENOMEM;
        d = opendir(devices);
        if (!d && errno != ENOENT)
                return negative_errno();

        while (d) {
                size_t k;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno > 0)
                                return -errno;
                        break;
                }
                k = strlen(de->d_name);
                if (de->d_name[0] == '.' || k <= strlen(RECORD_SUFFIX) ||
                    !streq(de->d_name + k - strlen(RECORD_SUFFIX), RECORD_SUFFIX))
                        continue;
                r = strv_push(&names, &n_names, &allocated_names, strdup(de->d_name));
                if (r < 0)
                        return r;
        }
        if (n_names > 0) /* names is NULL when none */
                qsort(names, n_names, sizeof(char *), strcmp_ptr);

        l = calloc(n_names + 1, sizeof(Enrollment *));
        if (!l)
                return -ENOMEM;

        STRV_FOREACH(name, names) {
                _cleanup_(erase_and_freep) char *buf = NULL;
                _cleanup_free_ char *path = NULL, *stem = NULL;
                Enrollment *e = NULL;
                struct stat st;
                size_t size;

                path = path_join(devices, *name);
                stem = strndup(*name, strlen(*name) - strlen(RECORD_SUFFIX));
                if (!path || !stem) {
                        r = -ENOMEM;
                        goto fail;
                }
                if (!store_key_valid(stem)) {
                        r = error_add(&el, path, 0, -EINVAL, true, "file name is not a valid key");
                        goto next;
                }
                if (fstatat(dirfd(d), *name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = negative_errno();
                        r = error_add(&el, path, 0, r, true, "cannot stat: %s", strerror(-r));
                        goto next;
                }
                if (!S_ISREG(st.st_mode)) {
                        r = error_add(&el, path, 0, -EINVAL, true, "not a regular file");
                        goto next;
                }
                r = read_full_file(path, STORE_RECORD_MAX, &buf, &size);
                if (r == -ENOMEM)
                        goto fail;
                if (r == -EFBIG) {
                        r = error_add(&el, path, 0, r, true, "record over %u bytes", STORE_RECORD_MAX);
                        goto next;
                }
                if (r < 0) {
                        r = error_add(&el, path, 0, r, true, "cannot read: %s", strerror(-r));
                        goto next;
                }
                r = record_parse(path, stem, buf, size, &el, &e);
                explicit_bzero(buf, size); /* it may hold a key; parsing put NULs in it */
                if (r >= 0 && e)
                        l[n++] = e;
next:
                if (r < 0)
                        goto fail;
        }

        *ret = l;
        *ret_n = n;
        if (ret_errors) {
                *ret_errors = el.l;
                *ret_n_errors = el.n;
        } else
                store_errors_free(el.l, el.n);
        return 0;

fail:
        enrollments_free(l, n);
        store_errors_free(el.l, el.n);
        return r;
}

/* ---- saving ---- */

static unsigned fault_countdown;
static int fault_error;

void store_set_fault_injection(unsigned n, int error) {
        fault_countdown = n;
        fault_error = error > 0 ? error : -error;
}

/* Whether the next write()/fsync() is to fail. */
static bool fault_now(void) {
        if (fault_countdown == 0)
                return false;
        return --fault_countdown == 0;
}

static int write_all(int fd, const char *buf, size_t n) {
        while (n > 0) {
                ssize_t k;

                if (fault_now()) {
                        (void) !write(fd, buf, n / 2);
                        return -fault_error;
                }
                k = write(fd, buf, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                buf += k;
                n -= (size_t) k;
        }
        return 0;
}

static int fsync_fault(int fd) {
        if (fault_now())
                return -fault_error;
        if (fsync(fd) < 0)
                return negative_errno();
        return 0;
}

static int check_value(const char *s) {
        return !s || strlen(s) <= STORE_VALUE_MAX ? 0 : -E2BIG;
}

static int enrollment_validate(const Enrollment *e) {
        int r;

        if (e->policy < 0 || e->policy >= _ENROLL_POLICY_MAX || e->enrolled < 0)
                return -EINVAL;
        if (e->type == ENROLL_PCIE) {
                if (e->has_key || e->pci_vendor > 0xffff || e->pci_device > 0xffff ||
                    (e->has_subsystem &&
                     (e->pci_subsystem_vendor > 0xffff || e->pci_subsystem_device > 0xffff)))
                        return -EINVAL;
                r = check_value(e->port);
                if (r < 0)
                        return r;
        }
        const char *const names[] = { e->name, e->vendor_name, e->device_name };

        FOREACH_ARRAY(s, names, ELEMENTSOF(names)) {
                r = check_value(*s);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Appends "name=<escaped value>\n". */
static char *field_append(char *p, const char *name, const char *value) {
        p = stpcpy(p, name);
        *p++ = '=';
        p = escape_append(p, value);
        *p++ = '\n';
        return p;
}

static int record_format(const Enrollment *e, char **ret, size_t *ret_size) {
        _cleanup_(erase_and_freep) char *buf = NULL;
        const char *strs[] = { e->unique_id, e->port, e->name, e->vendor_name, e->device_name };
        char num[128], *p;
        size_t bound = 1024; /* the header, the names of keys and the numbers */

        FOREACH_ARRAY(s, strs, ELEMENTSOF(strs))
                if (*s)
                        bound += 4 * strlen(*s);
        buf = p = malloc(bound);
        if (!buf)
                return -ENOMEM;
        p = stpcpy(p, "# egpuctl enrolment record\n");
        p = field_append(p, "type", enroll_type_to_string(e->type));
        if (e->type == ENROLL_THUNDERBOLT)
                p = field_append(p, "unique_id", e->unique_id);
        else {
                p = field_append(p, "port", e->port);
                if (e->has_subsystem)
                        snprintf(
                                num,
                                sizeof(num),
                                "%04" PRIx32 ":%04" PRIx32 ":%04" PRIx32 ":%04" PRIx32,
                                e->pci_vendor,
                                e->pci_device,
                                e->pci_subsystem_vendor,
                                e->pci_subsystem_device);
                else
                        snprintf(num, sizeof(num), "%04" PRIx32 ":%04" PRIx32, e->pci_vendor, e->pci_device);
                p = field_append(p, "ids", num);
        }
        if (e->name)
                p = field_append(p, "name", e->name);
        if (e->vendor_name)
                p = field_append(p, "vendor_name", e->vendor_name);
        if (e->device_name)
                p = field_append(p, "device_name", e->device_name);
        if (e->type == ENROLL_THUNDERBOLT) {
                snprintf(num, sizeof(num), "0x%04" PRIx32, e->vendor);
                p = field_append(p, "vendor", num);
                snprintf(num, sizeof(num), "0x%04" PRIx32, e->device);
                p = field_append(p, "device", num);
        }
        p = field_append(p, "policy", enroll_policy_to_string(e->policy));
        if (e->vm)
                p = field_append(p, "vm", e->vm);
        if (e->qmp)
                p = field_append(p, "qmp", e->qmp);
        if (e->mapping)
                p = field_append(p, "mapping", e->mapping);
        snprintf(num, sizeof(num), "%" PRIi64, e->enrolled);
        p = field_append(p, "enrolled", num);
        if (e->has_key) {
                char hex[2 * STORE_KEY_SIZE + 1];

                (void) enrollment_key_hex(e, hex);
                p = field_append(p, "key", hex);
                explicit_bzero(hex, sizeof(hex));
                p = field_append(p, "key_approved", e->key_approved ? "1" : "0");
        }
        *p = 0;
        *ret_size = (size_t) (p - buf);
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Opens <dir>/devices, creating dir and it (0700) when create is set. */
static int devices_dir_open(const char *dir, bool create, int *ret_fd) {
        _cleanup_free_ char *devices = NULL;
        int fd, r;

        devices = path_join(dir, DEVICES_DIR);
        if (!devices)
                return -ENOMEM;
        if (create) {
                r = mkdir_with_parents(dir, 0700); /* under --root, /var/lib may be missing too */
                if (r < 0)
                        return r;
                if (mkdir(devices, 0700) < 0 && errno != EEXIST)
                        return negative_errno();
        }
        fd = open(devices, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

int store_save(const char *dir, const Enrollment *e) {
        _cleanup_(erase_and_freep) char *buf = NULL;
        _cleanup_free_ char *key = NULL, *name = NULL, *tmp = NULL;
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        size_t size;
        int r;

        r = enrollment_key(e, &key);
        if (r < 0)
                return r;
        r = enrollment_validate(e);
        if (r < 0)
                return r;
        r = record_format(e, &buf, &size);
        if (r < 0)
                return r;
        if (size > STORE_RECORD_MAX)
                return -EFBIG;
        if (asprintf(&name, "%s" RECORD_SUFFIX, key) < 0)
                return -ENOMEM;

        r = devices_dir_open(dir, true, &dfd);
        if (r < 0)
                return r;

        for (unsigned attempt = 0;; attempt++) {
                uint64_t rnd;

                if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                        rnd = now_usec() ^ ((uint64_t) getpid() << 32) ^ attempt;
                tmp = mfree(tmp);
                if (asprintf(&tmp, ".%s.tmp-%016" PRIx64, name, rnd) < 0)
                        return -ENOMEM;
                fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || attempt >= 16)
                        return negative_errno();
        }

        r = write_all(fd, buf, size);
        if (r >= 0)
                r = fsync_fault(fd);
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = negative_errno();
        if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        return fsync_fault(dfd);
}

int store_remove(const char *dir, const char *key) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dfd = -EBADF;
        int r;

        if (!store_key_valid(key))
                return -EINVAL;
        if (asprintf(&name, "%s" RECORD_SUFFIX, key) < 0)
                return -ENOMEM;
        r = devices_dir_open(dir, false, &dfd);
        if (r < 0)
                return r;
        if (unlinkat(dfd, name, 0) < 0)
                return negative_errno();
        if (fsync(dfd) < 0)
                return negative_errno();
        return 0;
}
