/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "config.h"
#include "store.h"
#include "util.h"

#define UID "c9030000-0060-6c0e-83b6-5e1b2f4a1d07"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static int setup(void **state) {
        char *d = strdup("/tmp/test-store-XXXXXX");

        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        *state = d;
        return 0;
}

static int teardown(void **state) {
        char *d = *state;

        store_set_fault_injection(0, 0);
        (void) nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(d);
        return 0;
}

static char *record_path(const char *dir, const char *key) {
        char *p;

        assert_true(asprintf(&p, "%s/devices/%s.conf", dir, key) >= 0);
        return p;
}

static void write_file(const char *dir, const char *name, const char *content, size_t size) {
        _cleanup_free_ char *devices = path_join(dir, "devices"), *p = path_join(devices, name);
        _cleanup_close_ int fd = -EBADF;

        (void) mkdir(devices, 0700);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, size), (ssize_t) size);
}

static char *read_record(const char *dir, const char *key) {
        _cleanup_free_ char *p = record_path(dir, key);
        char *s = NULL;

        assert_int_equal(read_full_file(p, STORE_RECORD_MAX, &s, NULL), 0);
        return s;
}

static unsigned count_files(const char *dir) {
        _cleanup_free_ char *devices = path_join(dir, "devices");
        DIR *d = opendir(devices);
        struct dirent *de;
        unsigned n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static Enrollment *make_tb(const char *uid) {
        Enrollment *e = NULL;

        assert_int_equal(enrollment_new(ENROLL_THUNDERBOLT, &e), 0);
        e->unique_id = strdup(uid);
        e->name = strdup("1-1");
        e->vendor_name = strdup("Blackmagic Design");
        e->device_name = strdup("eGPU Pro");
        e->vendor = 0x4;
        e->device = 0xa153;
        e->policy = ENROLL_POLICY_AUTO;
        e->enrolled = 1764000000;
        return e;
}

static void assert_streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                assert_ptr_equal(a, b);
        else
                assert_string_equal(a, b);
}

static void assert_enrollment_equal(const Enrollment *a, const Enrollment *b) {
        assert_int_equal(a->type, b->type);
        assert_streq_ptr(a->unique_id, b->unique_id);
        assert_streq_ptr(a->name, b->name);
        assert_streq_ptr(a->vendor_name, b->vendor_name);
        assert_streq_ptr(a->device_name, b->device_name);
        assert_int_equal(a->vendor, b->vendor);
        assert_int_equal(a->device, b->device);
        assert_int_equal(a->policy, b->policy);
        assert_int_equal(a->enrolled, b->enrolled);
        assert_int_equal(a->has_key, b->has_key);
        assert_int_equal(a->key_approved, b->key_approved);
        if (a->has_key)
                assert_memory_equal(a->key, b->key, sizeof(a->key));
        assert_streq_ptr(a->port, b->port);
        assert_int_equal(a->pci_vendor, b->pci_vendor);
        assert_int_equal(a->pci_device, b->pci_device);
        assert_int_equal(a->has_subsystem, b->has_subsystem);
        assert_int_equal(a->pci_subsystem_vendor, b->pci_subsystem_vendor);
        assert_int_equal(a->pci_subsystem_device, b->pci_subsystem_device);
}

/* Loads the store, expecting n records and n_errors errors. */
static void load(const char *dir, Enrollment ***l, size_t *n, StoreError **errors, size_t *n_errors) {
        assert_int_equal(store_load(dir, l, n, errors, n_errors), 0);
}

static void test_roundtrip_thunderbolt(void **state) {
        const char *dir = *state;
        _cleanup_(enrollment_freep) Enrollment *e = make_tb(UID);
        _cleanup_free_ char *p = NULL;
        Enrollment **l = NULL;
        StoreError *errors = NULL;
        size_t n = 0, n_errors = 0;

        assert_int_equal(enrollment_generate_key(e), 0);
        assert_int_equal(store_save(dir, e), 0);
        load(dir, &l, &n, &errors, &n_errors);
        assert_int_equal(n, 1);
        assert_int_equal(n_errors, 0);
        assert_enrollment_equal(l[0], e);
        p = record_path(dir, UID);
        assert_string_equal(l[0]->path, p);
        assert_ptr_equal(enrollments_find(l, n, UID), l[0]);
        assert_null(enrollments_find(l, n, "other"));
        assert_null(enrollments_find_port(l, n, UID));
        enrollments_free(l, n);
        store_errors_free(errors, n_errors);
}

static void test_roundtrip_pcie(void **state) {
        const char *dir = *state;
        _cleanup_(enrollment_freep) Enrollment *a = NULL, *b = NULL;
        _cleanup_free_ char *key = NULL, *content = NULL;
        Enrollment **l = NULL;
        size_t n = 0;

        assert_int_equal(enrollment_new(ENROLL_PCIE, &a), 0);
        a->port = strdup("pci0000:00/0000:00:1c.0/00.0/01.0");
        a->pci_vendor = 0x1002;
        a->pci_device = 0x687f;
        a->pci_subsystem_vendor = 0x1002;
        a->pci_subsystem_device = 0x0b36;
        a->has_subsystem = true;
        a->vendor_name = strdup("Advanced Micro Devices, Inc. [AMD/ATI]");
        a->enrolled = 5;
        assert_int_equal(store_save(dir, a), 0);

        assert_int_equal(enrollment_new(ENROLL_PCIE, &b), 0);
        b->port = strdup("pci0000:00/0000:00:01.1");
        b->pci_vendor = 0x10de;
        b->pci_device = 0x2204;
        b->policy = ENROLL_POLICY_AUTO;
        assert_int_equal(store_save(dir, b), 0);

        assert_int_equal(enrollment_key(a, &key), 0);
        assert_true(strneq(key, "pci-", 4));
        assert_int_equal(strlen(key), 20);
        assert_true(store_key_valid(key));
        content = read_record(dir, key);
        assert_non_null(strstr(content, "\nids=1002:687f:1002:0b36\n"));
        assert_non_null(strstr(content, "\nport=pci0000:00/0000:00:1c.0/00.0/01.0\n"));

        load(dir, &l, &n, NULL, NULL);
        assert_int_equal(n, 2);
        assert_enrollment_equal(enrollments_find_port(l, n, a->port), a);
        assert_enrollment_equal(enrollments_find_port(l, n, b->port), b);
        assert_null(enrollments_find(l, n, a->port));
        enrollments_free(l, n);
}

/* One ids parser: what enroll --ids takes (enrollment_set_ids()) is what a record's ids= may hold. */
static void test_ids_agree(void **state) {
        static const char *const ids[] = {
                "1002:687f",
                "1002:687F",
                "10de:2504:1458:4071",
                "1002::687f",
                "1002:687f:1",
                "1002:687",
                "1002:687f:",
                ":1002:687f",
                "1002:687f:1002:0b36:0",
                "1002-687f",
                "",
                "g002:687f",
        };
        _cleanup_free_ char *key = NULL;

        assert_int_equal(store_key_from_port("pci0000:00/1c.0", &key), 0);
        FOREACH_ARRAY(i, ids, ELEMENTSOF(ids)) {
                _cleanup_(enrollment_freep) Enrollment *e = NULL, *r = NULL;
                _cleanup_free_ char *text = NULL;
                StoreError *errors = NULL;
                size_t n_errors = 0;
                bool enroll_takes, store_takes;

                assert_int_equal(enrollment_new(ENROLL_PCIE, &e), 0);
                enroll_takes = enrollment_set_ids(e, *i) >= 0;
                assert_true(asprintf(&text, "type=pcie\nport=pci0000:00/1c.0\nids=%s\n", *i) > 0);
                store_takes =
                        store_record_parse("/x.conf", key, text, strlen(text), &r, &errors, &n_errors) >=
                                0 &&
                        r && n_errors == 0;
                store_errors_free(errors, n_errors);
                assert_true(enroll_takes == store_takes);
                if (enroll_takes)
                        assert_true(
                                r->pci_vendor == e->pci_vendor && r->pci_device == e->pci_device &&
                                r->has_subsystem == e->has_subsystem);
        }
}

static const char *const hostile[] = {
        "line\nbreak\npolicy=auto\nkey=0000000000000000000000000000000000000000000000000000000000000000",
        "\"quoted\" 'single' `back`",
        "$(reboot) ${HOME} $HOME; rm -rf /",
        "inv\xff\xfe\xc3(alid utf-8 \xed\xa0\x80",
        "key=value=more==",
        "back\\slash \\n \\x41 \\",
        "tab\there\r\x01\x1b[31mred\x7f",
        "# not a comment",
        "  leading and trailing spaces  ",
        "",
        "Ümlaut ✓ 日本",
};

static void test_hostile_values(void **state) {
        const char *dir = *state;

        for (size_t i = 0; i < ELEMENTSOF(hostile); i++) {
                _cleanup_(enrollment_freep) Enrollment *e = make_tb(UID);
                _cleanup_free_ char *content = NULL;
                Enrollment **l = NULL;
                StoreError *errors = NULL;
                size_t n = 0, n_errors = 0;

                free(e->name);
                free(e->vendor_name);
                free(e->device_name);
                e->name = strdup(hostile[i]);
                e->vendor_name = strdup(hostile[i]);
                e->device_name = strdup(hostile[ELEMENTSOF(hostile) - 1 - i]);
                e->policy = ENROLL_POLICY_MANUAL;
                assert_int_equal(store_save(dir, e), 0);

                /* The file is printable ASCII, one key=value per line: nothing was injected. */
                content = read_record(dir, UID);
                for (const char *p = content; *p; p++)
                        assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
                assert_null(strstr(content, "\npolicy=auto"));
                assert_null(strstr(content, "\nkey="));

                load(dir, &l, &n, &errors, &n_errors);
                assert_int_equal(n_errors, 0);
                assert_int_equal(n, 1);
                assert_enrollment_equal(l[0], e);
                assert_int_equal(l[0]->policy, ENROLL_POLICY_MANUAL);
                assert_false(l[0]->has_key);
                enrollments_free(l, n);
                store_errors_free(errors, n_errors);
        }
}

static void test_value_limits(void **state) {
        const char *dir = *state;
        _cleanup_(enrollment_freep) Enrollment *e = make_tb(UID);
        _cleanup_free_ char *big = malloc(STORE_VALUE_MAX + 2), *content = NULL, *bad = NULL;
        Enrollment **l = NULL;
        StoreError *errors = NULL;
        size_t n = 0, n_errors = 0;

        /* 4 KiB of bytes that all need escaping, in all three names: 48 KiB of record. */
        assert_non_null(big);
        for (size_t i = 0; i < STORE_VALUE_MAX; i++)
                big[i] = (char) (1 + i % 255);
        big[STORE_VALUE_MAX] = 0;
        free(e->name);
        free(e->vendor_name);
        free(e->device_name);
        e->name = strdup(big);
        e->vendor_name = strdup(big);
        e->device_name = strdup(big);
        assert_int_equal(store_save(dir, e), 0);
        load(dir, &l, &n, &errors, &n_errors);
        assert_int_equal(n_errors, 0);
        assert_int_equal(n, 1);
        assert_enrollment_equal(l[0], e);
        assert_int_equal(strlen(l[0]->name), STORE_VALUE_MAX);
        enrollments_free(l, n);
        store_errors_free(errors, n_errors);

        /* One byte more is refused on write, and the old record kept. */
        memset(big, 'x', STORE_VALUE_MAX + 1);
        big[STORE_VALUE_MAX + 1] = 0;
        free(e->device_name);
        e->device_name = strdup(big);
        assert_int_equal(store_save(dir, e), -E2BIG);
        load(dir, &l, &n, &errors, &n_errors);
        assert_int_equal(n, 1);
        assert_int_equal(strlen(l[0]->device_name), STORE_VALUE_MAX);
        enrollments_free(l, n);
        store_errors_free(errors, n_errors);

        /* ... and on read. */
        assert_true(asprintf(&bad, "type=thunderbolt\nunique_id=abc\nname=%s\n", big) >= 0);
        write_file(dir, "abc.conf", bad, strlen(bad));
        load(dir, &l, &n, &errors, &n_errors);
        assert_int_equal(n, 1);
        assert_int_equal(n_errors, 1);
        assert_int_equal(errors[0].line, 3);
        assert_true(errors[0].skipped);
        assert_non_null(strstr(errors[0].message, "too long"));
        enrollments_free(l, n);
        store_errors_free(errors, n_errors);

        /* A file over 64 KiB is refused. */
        content = malloc(STORE_RECORD_MAX + 100);
        assert_non_null(content);
        memset(content, '#', STORE_RECORD_MAX + 100);
        memcpy(content, "type=thunderbolt\nunique_id=abc\n", strlen("type=thunderbolt\nunique_id=abc\n"));
        content[STORE_RECORD_MAX + 99] = '\n';
        write_file(dir, "abc.conf", content, STORE_RECORD_MAX + 100);
        load(dir, &l, &n, &errors, &n_errors);
        assert_int_equal(n, 1);
        assert_int_equal(n_errors, 1);
        assert_int_equal(errors[0].error, -EFBIG);
        assert_int_equal(errors[0].line, 0);
        enrollments_free(l, n);
        store_errors_free(errors, n_errors);
}

static void test_modes(void **state) {
        _cleanup_free_ char *dir = path_join(*state, "sub"), *p = NULL, *devices = NULL;
        _cleanup_(enrollment_freep) Enrollment *e = make_tb(UID);
        struct stat st;

        /* The folder is created when missing. */
        assert_int_equal(store_save(dir, e), 0);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        devices = path_join(dir, "devices");
        assert_int_equal(stat(devices, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        p = record_path(dir, UID);
        assert_int_equal(stat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);

        /* Still so when replaced. */
        e->policy = ENROLL_POLICY_MANUAL;
        assert_int_equal(store_save(dir, e), 0);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void check_fault(const char *dir, unsigned nth, bool first) {
        _cleanup_(enrollment_freep) Enrollment *old = make_tb(UID), *new = make_tb(UID);
        _cleanup_free_ char *before = NULL, *after = NULL, *p = record_path(dir, UID);
        Enrollment **l = NULL;
        StoreError *errors = NULL;
        size_t n = 0, n_errors = 0;

        if (!first) {
                assert_int_equal(store_save(dir, old), 0);
                before = read_record(dir, UID);
        }

        free(new->device_name);
        new->device_name = strdup("a new name");
        new->policy = ENROLL_POLICY_MANUAL;
        assert_int_equal(enrollment_generate_key(new), 0);

        store_set_fault_injection(nth, ENOSPC);
        assert_int_equal(store_save(dir, new), -ENOSPC);
        store_set_fault_injection(0, 0);

        /* No temporary file left; the old record (or none) is there, unchanged. */
        if (first) {
                assert_int_equal(access(p, F_OK), -1);
                assert_int_equal(count_files(dir), 0);
        } else {
                assert_int_equal(count_files(dir), 1);
                after = read_record(dir, UID);
                assert_string_equal(before, after);
        }
        load(dir, &l, &n, &errors, &n_errors);
        assert_int_equal(n_errors, 0);
        assert_int_equal(n, first ? 0 : 1);
        if (!first)
                assert_enrollment_equal(l[0], old);
        enrollments_free(l, n);
        store_errors_free(errors, n_errors);

        /* Without the fault, the new one is written. */
        assert_int_equal(store_save(dir, new), 0);
        load(dir, &l, &n, NULL, NULL);
        assert_int_equal(n, 1);
        assert_enrollment_equal(l[0], new);
        enrollments_free(l, n);
        assert_int_equal(store_remove(dir, UID), 0);
}

static void test_atomic_enospc(void **state) {
        const char *dir = *state;

        check_fault(dir, 1, false); /* the write of the temporary file */
        check_fault(dir, 2, false); /* its fsync() */
        check_fault(dir, 1, true);  /* a new record: none is left behind */
        check_fault(dir, 2, true);
}

static void test_atomic_enospc_folder_fsync(void **state) {
        const char *dir = *state;
        _cleanup_(enrollment_freep) Enrollment *e = make_tb(UID);
        Enrollment **l = NULL;
        size_t n = 0;

        /* The fsync of the folder comes after the rename: the error is reported, the record is whole. */
        store_set_fault_injection(3, ENOSPC);
        assert_int_equal(store_save(dir, e), -ENOSPC);
        store_set_fault_injection(0, 0);
        assert_int_equal(count_files(dir), 1);
        load(dir, &l, &n, NULL, NULL);
        assert_int_equal(n, 1);
        assert_enrollment_equal(l[0], e);
        enrollments_free(l, n);
}

#define GOOD "type=thunderbolt\nunique_id=good\npolicy=auto\n"

static const struct {
        const char *name;
        const char *content;
        unsigned line;
        const char *message;
} bad_records[] = {
        { "a1.conf", "type=thunderbolt\nunique_id=a1\ngarbage line\n", 3, "expected key=value" },
        { "a2.conf", "type=thunderbolt\nunique_id=a2\npolicy=au", 3, "truncated" },
        { "a3.conf", "type=thunderbolt\n", 0, "no unique_id" },
        { "a4.conf", "type=thunderbolt\nunique_id=a4\nkey=abcd\n", 3, "64 hex" },
        { "a5.conf",
          "type=thunderbolt\nunique_id=a5\nkey=zz"
          "00000000000000000000000000000000000000000000000000000000000000\n",
          3,
          "64 hex" },
        { "a6.conf", "type=thunderbolt\nunique_id=a6\nname=x\\q\n", 3, "bad escape" },
        { "a7.conf", "type=thunderbolt\nunique_id=a7\nname=\\x0\n", 3, "\\x" },
        { "a8.conf", "type=thunderbolt\nunique_id=a8\nname=\\x00\n", 3, "\\x00" },
        { "a9.conf", "type=thunderbolt\nunique_id=a9\nname=a\rb\n", 3, "control" },
        { "b1.conf", "type=thunderbolt\nunique_id=b1\npolicy=sometimes\n", 3, "policy" },
        { "b2.conf", "type=usb\nunique_id=b2\n", 1, "type" },
        { "b3.conf", "type=thunderbolt\nunique_id=b3\nunique_id=b3\n", 3, "duplicate" },
        { "b4.conf", "type=thunderbolt\nunique_id=other\n", 0, "file name" },
        { "b5.conf", "type=thunderbolt\nunique_id=b5\nvendor=0xzz\n", 3, "hex" },
        { "b6.conf", "type=thunderbolt\nunique_id=b6\nenrolled=-1\n", 3, "time" },
        { "b7.conf", "type=thunderbolt\nunique_id=b7\nport=x\n", 0, "port" },
        { "b8.conf", "type=pcie\nport=x\nids=1002\n", 3, "ids" },
        { "b9.conf", "", 0, "no type" },
        { "c1.conf", "# egpuctl enrolment record\nunique_id=c1\n", 0, "no type" },
        { "c2.conf", "type=thunderbolt\nunique_id=c2\n Type=pcie\n", 3, "key=value" },
        { "c3.conf", "type=pcie\nport=a\nids=1002:687f\n", 0, "file name" },
        { "c4 x.conf", GOOD, 0, "valid key" },
        { "c5.conf", "type=thunderbolt\nunique_id=c5\nkey_approved=yes\n", 3, "key_approved" },
        { "c6.conf", "type=thunderbolt\nunique_id=c6\nenrolled=99999999999999999999\n", 3, "time" },
        { "c7.conf", "type=thunderbolt\nunique_id=c7\nvendor=0x100000000\n", 3, "hex" },
        { "pci-0.conf", GOOD, 0, "valid key" },
};

static void test_garbage_records(void **state) {
        const char *dir = *state;
        _cleanup_(enrollment_freep) Enrollment *g = make_tb("good");
        Enrollment **l = NULL;
        StoreError *errors = NULL;
        size_t n = 0, n_errors = 0;

        assert_int_equal(store_save(dir, g), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad_records); i++)
                write_file(dir, bad_records[i].name, bad_records[i].content, strlen(bad_records[i].content));
        write_file(dir, "d1.conf", "type=thunderbolt\0unique_id=d1\n", 30);
        /* Ignored: temporary files of a crash, other names. */
        write_file(dir, ".good.conf.tmp-0123456789abcdef", "type=thunder", 12);
        write_file(dir, "good.conf~", "garbage", 7);
        write_file(dir, "README", "garbage", 7);
        {
                _cleanup_free_ char *d = path_join(dir, "devices/zz.conf");
                assert_int_equal(mkdir(d, 0700), 0);
        }

        load(dir, &l, &n, &errors, &n_errors);
        assert_int_equal(n, 1);
        assert_enrollment_equal(l[0], g);
        assert_int_equal(n_errors, ELEMENTSOF(bad_records) + 2);
        for (size_t i = 0; i < n_errors; i++)
                assert_true(errors[i].skipped);

        for (size_t i = 0; i < ELEMENTSOF(bad_records); i++) {
                const StoreError *err = NULL;
                _cleanup_free_ char *p = NULL, *devices = path_join(dir, "devices");

                p = path_join(devices, bad_records[i].name);
                for (size_t j = 0; j < n_errors; j++)
                        if (streq(errors[j].path, p))
                                err = &errors[j];
                assert_non_null(err);
                if (!strstr(err->message, bad_records[i].message))
                        fail_msg(
                                "%s: got \"%s\", expected \"%s\"",
                                bad_records[i].name,
                                err->message,
                                bad_records[i].message);
                assert_int_equal(err->line, bad_records[i].line);
                assert_true(err->error < 0);
        }
        for (size_t j = 0; j < n_errors; j++) {
                if (strstr(errors[j].path, "/d1.conf"))
                        assert_non_null(strstr(errors[j].message, "NUL"));
                if (strstr(errors[j].path, "/zz.conf"))
                        assert_non_null(strstr(errors[j].message, "regular"));
                /* Sorted by file name. */
                if (j > 0)
                        assert_true(strcmp(errors[j - 1].path, errors[j].path) < 0);
        }
        enrollments_free(l, n);
        store_errors_free(errors, n_errors);

        /* Errors may be left out. */
        load(dir, &l, &n, NULL, NULL);
        assert_int_equal(n, 1);
        enrollments_free(l, n);
}

static void test_unknown_key(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *p = NULL;
        Enrollment **l = NULL;
        StoreError *errors = NULL;
        size_t n = 0, n_errors = 0;

        write_file(dir, "future.conf", "type=thunderbolt\nunique_id=future\nnew_thing=1\npolicy=auto\n", 58);
        load(dir, &l, &n, &errors, &n_errors);
        assert_int_equal(n, 1);
        assert_int_equal(l[0]->policy, ENROLL_POLICY_AUTO);
        assert_int_equal(n_errors, 1);
        assert_false(errors[0].skipped);
        assert_int_equal(errors[0].line, 3);
        assert_non_null(strstr(errors[0].message, "new_thing"));
        p = record_path(dir, "future");
        assert_string_equal(errors[0].path, p);
        enrollments_free(l, n);
        store_errors_free(errors, n_errors);
}

static void test_defaults(void **state) {
        const char *dir = *state;
        Enrollment **l = NULL;
        size_t n = 0;

        /* Hand-written, minimal: policy manual, no key, no names; hex ids without 0x; uppercase. */
        write_file(dir, "ABC-1.conf", "type=thunderbolt\nunique_id=ABC-1\nvendor=8086\n", 45);
        load(dir, &l, &n, NULL, NULL);
        assert_int_equal(n, 1);
        assert_int_equal(l[0]->policy, ENROLL_POLICY_MANUAL);
        assert_false(l[0]->has_key);
        assert_null(l[0]->name);
        assert_int_equal(l[0]->vendor, 0x8086);
        assert_int_equal(l[0]->enrolled, 0);
        enrollments_free(l, n);
}

static void test_invalid_unique_id(void **state) {
        const char *dir = *state;
        static const char *const bad[] = {
                "../x",
                "..",
                ".",
                "",
                "a/b",
                "a.b",
                "a b",
                "a\nb",
                "/etc/passwd",
                "pci-0123456789abcdef",
                "PCI-x",
                "x\xff",
                "0123456789012345678901234567890123456789012345678901234567890123"
                "4", /* 65 */
        };
        _cleanup_free_ char *s = NULL;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(enrollment_freep) Enrollment *e = make_tb("x");

                free(e->unique_id);
                e->unique_id = strdup(bad[i]);
                assert_false(store_unique_id_valid(bad[i]));
                assert_int_equal(store_save(dir, e), -EINVAL);
                /* "pci-" and 16 hex digits is not a unique_id, but is the key of a pcie record. */
                assert_int_equal(store_remove(dir, bad[i]), store_key_valid(bad[i]) ? -ENOENT : -EINVAL);
        }
        {
                _cleanup_(enrollment_freep) Enrollment *e = make_tb("x");
                e->unique_id = mfree(e->unique_id);
                assert_int_equal(store_save(dir, e), -EINVAL);
        }
        assert_true(
                store_unique_id_valid("0123456789012345678901234567890123456789012345678901234567890123"));
        assert_true(store_unique_id_valid(UID));
        assert_false(store_key_valid(NULL));
        assert_true(store_key_valid("pci-0123456789abcdef"));
        assert_false(store_key_valid("pci-0123456789ABCDEF"));

        /* Nothing was written anywhere. */
        s = path_join(dir, "devices");
        assert_true(access(s, F_OK) < 0 || count_files(dir) == 0);
        assert_int_equal(store_key_from_port("", &s), -EINVAL);
}

static void test_invalid_records_refused(void **state) {
        const char *dir = *state;
        _cleanup_(enrollment_freep) Enrollment *p = NULL, *t = make_tb(UID);

        assert_int_equal(enrollment_new(ENROLL_PCIE, &p), 0);
        assert_int_equal(store_save(dir, p), -EINVAL); /* no port */
        p->port = strdup("pci0000:00/0000:00:01.1");
        p->pci_vendor = 0x10000;
        assert_int_equal(store_save(dir, p), -EINVAL);
        p->pci_vendor = 0x10de;
        assert_int_equal(enrollment_generate_key(p), 0);
        assert_int_equal(store_save(dir, p), -EINVAL); /* keys are for thunderbolt */
        p->has_key = false;
        assert_int_equal(store_save(dir, p), 0);

        t->policy = 7;
        assert_int_equal(store_save(dir, t), -EINVAL);
        t->policy = ENROLL_POLICY_AUTO;
        t->enrolled = -1;
        assert_int_equal(store_save(dir, t), -EINVAL);
        assert_int_equal(enrollment_new(42, &t), -EINVAL);
}

static void test_remove(void **state) {
        const char *dir = *state;
        _cleanup_(enrollment_freep) Enrollment *a = make_tb("aaa"), *b = make_tb("bbb");
        Enrollment **l = NULL;
        size_t n = 0;

        assert_int_equal(store_remove(dir, "aaa"), -ENOENT); /* no folder yet */
        assert_int_equal(store_save(dir, a), 0);
        assert_int_equal(store_save(dir, b), 0);
        assert_int_equal(store_remove(dir, "aaa"), 0);
        assert_int_equal(store_remove(dir, "aaa"), -ENOENT);
        assert_int_equal(store_remove(dir, "ccc"), -ENOENT);
        load(dir, &l, &n, NULL, NULL);
        assert_int_equal(n, 1);
        assert_string_equal(l[0]->unique_id, "bbb");
        enrollments_free(l, n);
        assert_int_equal(store_remove(dir, "bbb"), 0);
        load(dir, &l, &n, NULL, NULL);
        assert_int_equal(n, 0);
        enrollments_free(l, n);
}

static void test_load_missing(void **state) {
        _cleanup_free_ char *dir = path_join(*state, "nonexistent");
        Enrollment **l = (Enrollment **) 1;
        StoreError *errors = (StoreError *) 1;
        size_t n = 1, n_errors = 1;

        load(dir, &l, &n, &errors, &n_errors);
        assert_int_equal(n, 0);
        assert_int_equal(n_errors, 0);
        enrollments_free(l, n);
        store_errors_free(errors, n_errors);
}

static void test_key(void **state) {
        const char *dir = *state;
        _cleanup_(enrollment_freep) Enrollment *a = make_tb("aaa"), *b = make_tb("bbb");
        _cleanup_free_ char *content = NULL, *line = NULL;
        char ha[65], hb[65];
        Enrollment **l = NULL;
        size_t n = 0;

        assert_int_equal(enrollment_key_hex(a, ha), -ENODATA);
        assert_int_equal(enrollment_generate_key(a), 0);
        assert_int_equal(enrollment_generate_key(b), 0);
        assert_true(a->has_key);
        assert_memory_not_equal(a->key, b->key, sizeof(a->key));
        assert_int_equal(enrollment_key_hex(a, ha), 0);
        assert_int_equal(enrollment_key_hex(b, hb), 0);
        assert_int_equal(strlen(ha), 64);
        assert_int_equal(strspn(ha, "0123456789abcdef"), 64);
        assert_string_not_equal(ha, hb);

        memset(a->key, 0, sizeof(a->key));
        a->key[0] = 0xab;
        a->key[31] = 0x0f;
        assert_int_equal(enrollment_key_hex(a, ha), 0);
        assert_string_equal(
                ha,
                "ab000000000000000000000000000000000000000000000000000000000000"
                "0f");

        assert_int_equal(store_save(dir, a), 0);
        content = read_record(dir, "aaa");
        assert_true(asprintf(&line, "\nkey=%s\nkey_approved=0\n", ha) >= 0);
        assert_non_null(strstr(content, line));
        load(dir, &l, &n, NULL, NULL);
        assert_int_equal(n, 1);
        assert_true(l[0]->has_key);
        assert_false(l[0]->key_approved);
        assert_memory_equal(l[0]->key, a->key, 32);
        enrollments_free(l, n);

        /* key_approved round-trips. */
        a->key_approved = true;
        assert_int_equal(store_save(dir, a), 0);
        load(dir, &l, &n, NULL, NULL);
        assert_int_equal(n, 1);
        assert_true(l[0]->key_approved);
        enrollments_free(l, n);

        /* Uppercase hex is read too. */
        write_file(
                dir,
                "ccc.conf",
                "type=thunderbolt\nunique_id=ccc\nkey="
                "AB00000000000000000000000000000000000000000000000000000000000000\n",
                100);
        load(dir, &l, &n, NULL, NULL);
        assert_int_equal(n, 2);
        assert_int_equal(enrollments_find(l, n, "ccc")->key[0], 0xab);
        enrollments_free(l, n);
}

static void test_strings(void **state) {
        assert_string_equal(enroll_policy_to_string(ENROLL_POLICY_AUTO), "auto");
        assert_string_equal(enroll_policy_to_string(ENROLL_POLICY_MANUAL), "manual");
        assert_null(enroll_policy_to_string(_ENROLL_POLICY_MAX));
        assert_null(enroll_policy_to_string(-1));
        assert_int_equal(enroll_policy_from_string("auto"), ENROLL_POLICY_AUTO);
        assert_int_equal(enroll_policy_from_string("manual"), ENROLL_POLICY_MANUAL);
        assert_int_equal(enroll_policy_from_string("Auto"), -EINVAL);
        assert_int_equal(enroll_policy_from_string(NULL), -EINVAL);
        assert_string_equal(enroll_type_to_string(ENROLL_PCIE), "pcie");
        assert_int_equal(enroll_type_from_string("thunderbolt"), ENROLL_THUNDERBOLT);
        assert_int_equal(enroll_type_from_string("tb"), -EINVAL);
}

static void test_dir_default(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *f = NULL;
        char *x = NULL;

        assert_int_equal(unsetenv("STATE_DIRECTORY"), 0);
        assert_int_equal(store_dir_default(NULL, &a), 0);
        assert_string_equal(a, EGPUCTL_STATE_DIR);
        /* Under --root DIR the store is DIR's; "" and "/" are the host. */
        assert_int_equal(store_dir_default("/tmp/scenario/root", &d), 0);
        assert_string_equal(d, "/tmp/scenario/root" EGPUCTL_STATE_DIR);
        assert_int_equal(store_dir_default("/", &e), 0);
        assert_string_equal(e, EGPUCTL_STATE_DIR);
        assert_int_equal(store_dir_default("", &f), 0);
        assert_string_equal(f, EGPUCTL_STATE_DIR);
        assert_int_equal(setenv("STATE_DIRECTORY", "/var/lib/egpuctl-test", 1), 0);
        /* systemd's StateDirectory= wins, root or not. */
        assert_int_equal(store_dir_default("/tmp/scenario/root", &b), 0);
        assert_string_equal(b, "/var/lib/egpuctl-test");
        assert_int_equal(setenv("STATE_DIRECTORY", "/a:/b", 1), 0);
        assert_int_equal(store_dir_default(NULL, &c), 0);
        assert_string_equal(c, "/a");
        assert_int_equal(setenv("STATE_DIRECTORY", "relative", 1), 0);
        assert_int_equal(store_dir_default(NULL, &x), -EINVAL);
        assert_null(x);
        assert_int_equal(setenv("STATE_DIRECTORY", "", 1), 0);
        assert_int_equal(store_dir_default(NULL, &x), 0);
        assert_string_equal(x, EGPUCTL_STATE_DIR);
        free(x);
        assert_int_equal(unsetenv("STATE_DIRECTORY"), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_roundtrip_thunderbolt),
                T(test_roundtrip_pcie),
                T(test_ids_agree),
                T(test_hostile_values),
                T(test_value_limits),
                T(test_modes),
                T(test_atomic_enospc),
                T(test_atomic_enospc_folder_fsync),
                T(test_garbage_records),
                T(test_unknown_key),
                T(test_defaults),
                T(test_invalid_unique_id),
                T(test_invalid_records_refused),
                T(test_remove),
                T(test_load_missing),
                T(test_key),
                T(test_strings),
                T(test_dir_default),
        };

        umask(022);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
