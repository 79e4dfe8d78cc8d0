/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "conf-files.h"
#include "iommu-group.h"
#include "kernel-module.h"
#include "pci-bar.h"
#include "pci-function.h"
#include "spawn-util.h"
#include "time-util.h"
#include "util.h"

/* A folder of our own under /tmp, removed by rm_rf_tree() at the end. */
static char *make_tmp_dir(void) {
        char *d = strdup("/tmp/egpuctl-test-XXXXXX");

        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static void write_file(const char *root, const char *rel, const char *text) {
        _cleanup_free_ char *p = path_join(root, rel), *dir = NULL;
        FILE *f;

        assert_non_null(p);
        /* mkdir -p of the folder */
        dir = strdup(p);
        for (char *c = dir + strlen(root) + 1; (c = strchr(c, '/')); c++) {
                *c = 0;
                (void) mkdir(dir, 0755);
                *c = '/';
        }
        f = fopen(p, "we");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static void rm_rf_tree(const char *root) {
        char *argv[] = { (char *) "rm", (char *) "-rf", (char *) root, NULL };
        int status = 0;

        (void) spawn_run(argv, 0, &status, NULL);
}

static void test_safe_atou32(void **state) {
        uint32_t v;

        assert_int_equal(safe_atou32("0x1002", 16, &v), 0);
        assert_int_equal(v, 0x1002);
        assert_int_equal(safe_atou32("42\n", 10, &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(safe_atou32("", 10, &v), -EINVAL);
        assert_int_equal(safe_atou32("-1", 10, &v), -EINVAL);
        assert_int_equal(safe_atou32("12abc", 10, &v), -EINVAL);
        assert_int_equal(safe_atou32("4294967296", 10, &v), -ERANGE);
        assert_int_equal(safe_atou32(" 1", 10, &v), -EINVAL);
}

static void test_utf8_sanitize(void **state) {
        char *s;

        assert_int_equal(utf8_sanitize("eGPU \xc3\xa9", &s), 0);
        assert_string_equal(s, "eGPU \xc3\xa9");
        free(s);
        /* A lone continuation byte, an overlong encoding and a surrogate become U+FFFD. */
        assert_int_equal(
                utf8_sanitize(
                        "a\x80"
                        "b\xc0\xaf"
                        "c\xed\xa0\x80",
                        &s),
                0);
        assert_string_equal(
                s,
                "a\xef\xbf\xbd"
                "b\xef\xbf\xbd\xef\xbf\xbd"
                "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        free(s);
        /* Truncated sequence at the end. */
        assert_int_equal(utf8_sanitize("x\xe2\x82", &s), 0);
        assert_string_equal(s, "x\xef\xbf\xbd\xef\xbf\xbd");
        free(s);
}

static void test_str_printable(void **state) {
        char *s;

        assert_int_equal(str_printable("Blackmagic \"Design\" $(rm -rf /)", 256, &s), 0);
        assert_string_equal(s, "Blackmagic \"Design\" $(rm -rf /)");
        free(s);
        assert_int_equal(str_printable("a\nb\tc\x1b[31md\\", 256, &s), 0);
        assert_string_equal(s, "a\\nb\\tc\\x1b[31md\\\\");
        free(s);
        /* C1 control (U+009B, a CSI on some terminals) and invalid bytes are escaped; é is kept. */
        assert_int_equal(
                str_printable(
                        "\xc2\x9b"
                        "x\xff\xc3\xa9",
                        256,
                        &s),
                0);
        assert_string_equal(s, "\\xc2\\x9bx\\xff\xc3\xa9");
        free(s);
        assert_int_equal(str_printable("abcdef", 3, &s), 0);
        assert_string_equal(s, "abc...");
        free(s);
}

static void test_bdf(void **state) {
        assert_true(pci_bdf_is_valid("0000:30:00.1"));
        assert_false(pci_bdf_is_valid("0000:30:00.8"));
        assert_false(pci_bdf_is_valid("0000:30:00.1/../x"));
        assert_false(pci_bdf_is_valid("../../../x/00.1"));
        assert_false(pci_bdf_is_valid("0000:3G:00.1"));
        assert_false(pci_bdf_is_valid("0000:30:00.10"));
}

static void test_strv_split(void **state) {
        char **l;

        assert_int_equal(strv_split("device_specific  bus\n", " \t\n", &l), 0);
        assert_int_equal(strv_length(l), 2);
        assert_string_equal(l[0], "device_specific");
        assert_string_equal(l[1], "bus");
        strv_free(l);
        assert_int_equal(strv_split("", " ", &l), 0);
        assert_int_equal(strv_length(l), 0);
        strv_free(l);
}

static PciFunction fn(const char *bdf, uint32_t class, const char *driver) {
        return (PciFunction){ .bdf = (char *) bdf,
                              .class = class,
                              .driver = (char *) driver,
                              .iommu_group = 1 };
}

static void test_group_viability(void **state) {
        PciFunction gpu = fn("0000:30:00.0", 0x030000, "vfio-pci"),
                    audio = fn("0000:30:00.1", 0x040300, NULL),
                    bridge = fn("0000:2f:00.0", 0x060400, "pcieport"),
                    nic = fn("0000:31:00.0", 0x020000, "igc"),
                    fake = fn("0000:32:00.0", 0x020000, "pcieport");
        PciFunction *members[] = { &bridge, &gpu, &audio };
        IommuGroup g = { .id = 1, .members = members, .n_members = 3 };

        /* Bound to vfio-pci, unbound, and a bridge on pcieport: viable (the kernel's rule since 5.19). */
        assert_true(iommu_group_is_viable(&g));
        /* A host driver on any member: not viable. */
        members[2] = &nic;
        assert_false(iommu_group_is_viable(&g));
        /* pcieport on something that is not a bridge does not count. */
        members[2] = &fake;
        assert_false(iommu_group_is_viable(&g));
        assert_true(driver_manages_dma("pci-stub", false));
        assert_true(driver_manages_dma("mlx5_vfio_pci", false));
        assert_false(driver_manages_dma("amdgpu", false));
}

static void test_str_index(void **state) {
        struct item {
                int tag;
                char *key;
        } items[] = {
                { 0, (char *) "eth1" },  { 1, (char *) "AA:bb" }, { 2, NULL },
                { 3, (char *) "aa:BB" }, { 4, (char *) "eth0" },  { 5, (char *) "eth1" },
        };
        StrIndex exact = {}, icase = {};

        assert_int_equal(
                str_index_build(&exact, items, 6, sizeof(items[0]), offsetof(struct item, key), false),
                0);
        assert_int_equal(exact.n, 5);                               /* the NULL key is left out */
        assert_int_equal(str_index_find(&exact, items, "eth1"), 0); /* the first of equal ones */
        assert_int_equal(str_index_find(&exact, items, "eth0"), 4);
        assert_int_equal(str_index_find(&exact, items, "aa:bb"), SIZE_MAX);
        assert_int_equal(str_index_find(&exact, items, "eth2"), SIZE_MAX);
        assert_int_equal(
                str_index_build(&icase, items, 6, sizeof(items[0]), offsetof(struct item, key), true),
                0);
        assert_int_equal(str_index_find(&icase, items, "aa:bb"), 1);
        assert_int_equal(str_index_find(&icase, items, "AA:BB"), 1);
        /* built again over fewer elements */
        assert_int_equal(
                str_index_build(&icase, items, 2, sizeof(items[0]), offsetof(struct item, key), true),
                0);
        assert_int_equal(str_index_find(&icase, items, "eth0"), SIZE_MAX);
        assert_int_equal(str_index_find(&icase, items, "ETH1"), 0);
        str_index_done(&exact);
        str_index_done(&icase);
}

/* The one byte formatter: whole units as they are, else one decimal, rounded down. */
static void test_format_bytes(void **state) {
        char b[FORMAT_BYTES_MAX];

        assert_string_equal(format_bytes(b, sizeof(b), 0), "0 B");
        assert_string_equal(format_bytes(b, sizeof(b), 100), "100 B");
        assert_string_equal(format_bytes(b, sizeof(b), 1023), "1023 B");
        assert_string_equal(format_bytes(b, sizeof(b), 1024), "1 KiB");
        assert_string_equal(format_bytes(b, sizeof(b), 1536), "1.5 KiB");
        assert_string_equal(format_bytes(b, sizeof(b), UINT64_C(256) << 20), "256 MiB");
        assert_string_equal(format_bytes(b, sizeof(b), UINT64_C(8) << 30), "8 GiB");
        assert_string_equal(format_bytes(b, sizeof(b), 2048000000), "1.9 GiB");
        assert_string_equal(format_bytes(b, sizeof(b), 1024000000), "976.6 MiB");
        assert_string_equal(format_bytes(b, sizeof(b), 1048575), "1.0 MiB");
        assert_string_equal(format_bytes(b, sizeof(b), 1025), "1.0 KiB");
        assert_string_equal(format_bytes(b, sizeof(b), UINT64_MAX), "16.0 EiB");
}

/* The one time unit and its parser, as systemd's parse_sec() reads a span. */
static void test_parse_sec(void **state) {
        usec_t t;

        assert_int_equal(parse_sec("1.5", &t), 0);
        assert_true(t == 1500 * USEC_PER_MSEC);
        assert_int_equal(parse_sec("30", &t), 0);
        assert_true(t == 30 * USEC_PER_SEC);
        assert_int_equal(parse_sec("500ms", &t), 0);
        assert_true(t == 500 * USEC_PER_MSEC);
        assert_int_equal(parse_sec("1min 30s", &t), 0);
        assert_true(t == 90 * USEC_PER_SEC);
        assert_int_equal(parse_sec("2h", &t), 0);
        assert_true(t == 7200 * USEC_PER_SEC);
        assert_int_equal(parse_sec("0.25s", &t), 0);
        assert_true(t == 250 * USEC_PER_MSEC);
        assert_int_equal(parse_sec(".25s", &t), -EINVAL);
        assert_int_equal(parse_sec("5 us", &t), 0);
        assert_true(t == 5);
        assert_int_equal(parse_sec("", &t), -EINVAL);
        assert_int_equal(parse_sec("-1", &t), -EINVAL);
        assert_int_equal(parse_sec("5x", &t), -EINVAL);
        assert_int_equal(parse_sec("nan", &t), -EINVAL);
        assert_int_equal(parse_sec("1.5.5", &t), -EINVAL);
        assert_int_equal(parse_sec("99999999999999999999", &t), -ERANGE);
        assert_true(usec_to_msec_ceil(1, 1000) == 1);
        assert_true(usec_to_msec_ceil(2 * USEC_PER_SEC, 1000) == 1000);
        assert_true(usec_to_msec_ceil(1500, 5000) == 2);
}

/* The one "first file of this name wins": sorted by name, an earlier folder hiding a later one's file of
 * the same name, a link to /dev/null hiding it and itself, folders and hidden files left out. */
static void test_conf_files_list(void **state) {
        static const char *const dirs[] = { "/etc/x.d", "/run/x.d", "/usr/lib/x.d" };
        _cleanup_free_ char *root = make_tmp_dir(), *masked = NULL, *sub = NULL;
        _cleanup_strv_free_ char **l = NULL, **one = NULL;

        write_file(root, "etc/x.d/b.conf", "etc b");
        write_file(root, "usr/lib/x.d/a.conf", "lib a");
        write_file(root, "usr/lib/x.d/b.conf", "lib b");
        write_file(root, "usr/lib/x.d/c.conf", "lib c");
        write_file(root, "run/x.d/c.other", "not matched");
        write_file(root, "run/x.d/.d.conf", "hidden");
        write_file(root, "usr/lib/x.d/masked.conf", "masked by /run");
        masked = path_join(root, "run/x.d/masked.conf");
        assert_int_equal(symlink("/dev/null", masked), 0);
        sub = path_join(root, "etc/x.d/dir.conf");
        assert_int_equal(mkdir(sub, 0755), 0);

        assert_int_equal(conf_files_list(root, dirs, ELEMENTSOF(dirs), "*.conf", &l), 0);
        assert_int_equal(strv_length(l), 3);
        assert_string_equal(l[0], "/usr/lib/x.d/a.conf");
        assert_string_equal(l[1], "/etc/x.d/b.conf");
        assert_string_equal(l[2], "/usr/lib/x.d/c.conf");
        /* One folder, an exact name. */
        assert_int_equal(conf_files_list(root, dirs + 2, 1, "b.conf", &one), 0);
        assert_int_equal(strv_length(one), 1);
        assert_string_equal(one[0], "/usr/lib/x.d/b.conf");
        rm_rf_tree(root);
}

/* The one ids parser: four hex digits each, two or four of them. */
static void test_pci_ids(void **state) {
        PciIds ids;

        assert_int_equal(pci_ids_parse("1002:687f", &ids), 0);
        assert_true(ids.vendor == 0x1002 && ids.device == 0x687f && !ids.has_subsystem);
        assert_int_equal(pci_ids_parse("10DE:2504:1458:4071", &ids), 0);
        assert_true(ids.has_subsystem && ids.subsystem_vendor == 0x1458 && ids.subsystem_device == 0x4071);
        assert_int_equal(pci_ids_parse("1002::687f", &ids), -EINVAL);
        assert_int_equal(pci_ids_parse("1002:687", &ids), -EINVAL);
        assert_int_equal(pci_ids_parse("1002:687f:1", &ids), -EINVAL);
        assert_int_equal(pci_ids_parse("1002:687f:1002:0b36:0", &ids), -EINVAL);
        assert_int_equal(pci_ids_parse("1002:687g", &ids), -EINVAL);
        assert_int_equal(pci_ids_parse("", &ids), -EINVAL);
        assert_int_equal(unhexchar('f'), 15);
        assert_int_equal(unhexchar('G'), -EINVAL);
}

/* The port path grammar: what pci_function_port_path() writes, nothing else. */
static void test_port_path(void **state) {
        assert_true(pci_port_path_is_valid("pci0000:00/1c.0"));
        assert_true(pci_port_path_is_valid("pci0000:00/01.0/00.0/03.0"));
        assert_true(pci_port_path_is_valid("pci10000:e0/1f.7"));
        assert_false(pci_port_path_is_valid("pci0000:00/../../x"));
        assert_false(pci_port_path_is_valid("pci0000:00"));
        assert_false(pci_port_path_is_valid("pci0000:00/"));
        assert_false(pci_port_path_is_valid("pci0000:00/1c.0/"));
        assert_false(pci_port_path_is_valid("pci0000:00/20.0")); /* device 0x20: past 0x1f */
        assert_false(pci_port_path_is_valid("pci0000:00/1c.8"));
        assert_false(pci_port_path_is_valid("pci0000:00/1C.0"));
        assert_false(pci_port_path_is_valid("pci000:00/1c.0"));
        assert_false(pci_port_path_is_valid("/sys/devices/pci0000:00/1c.0"));
        assert_false(pci_port_path_is_valid(""));
}

/* The ROM rule: the rom attribute, else line 6 of resource, else unknown. */
static void test_has_rom(void **state) {
        _cleanup_free_ char *root = make_tmp_dir();
        PciFunction f = { .syspath = root };

        assert_int_equal(pci_function_has_rom(&f), -ENOENT);
        write_file(
                root,
                "resource",
                "0x0000000062100000 0x0000000062103fff 0x0000000000040200\n"
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
        assert_int_equal(pci_function_has_rom(&f), 0);
        write_file(
                root,
                "resource",
                "0x0000000060000000 0x00000000601fffff 0x000000000014220c\n"
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                "0x0000000062080000 0x000000006209ffff 0x0000000000046200\n");
        assert_int_equal(pci_function_has_rom(&f), 1);
        write_file(root, "resource", "");
        write_file(root, "rom", "");
        assert_int_equal(pci_function_has_rom(&f), 1);
        rm_rf_tree(root);
}

/* resourceN_resize's mask (Documentation/ABI/testing/sysfs-bus-pci: bit n = 1 MiB << n). */
static void test_rebar_sizes(void **state) {
        uint64_t m = 0;

        assert_int_equal(pci_rebar_sizes_parse("0000000000003f00\n", &m), 0);
        assert_int_equal(m, 0x3f00);
        assert_int_equal(pci_rebar_sizes_max(m), UINT64_C(8) << 30);
        assert_int_equal(pci_rebar_sizes_max(0), 0);
        assert_int_equal(pci_rebar_sizes_parse("00000000000001c0", &m), 0);
        assert_int_equal(pci_rebar_sizes_max(m), UINT64_C(256) << 20);
        assert_int_equal(pci_rebar_sizes_parse("", &m), -EINVAL);
        assert_int_equal(pci_rebar_sizes_parse("0x3f00", &m), -EINVAL);
        assert_int_equal(pci_rebar_sizes_parse("10000000000000000", &m), -EINVAL);
        assert_int_equal(pci_rebar_size_to_bit(UINT64_C(1) << 20), 0);
        assert_int_equal(pci_rebar_size_to_bit(UINT64_C(8) << 30), 13);
        assert_int_equal(pci_rebar_size_to_bit(UINT64_C(3) << 20), -EINVAL);
        assert_int_equal(pci_rebar_size_to_bit(4096), -EINVAL);
}

/* The largest size that fits the window with what else it holds: the one planning attach and doctor use. */
static void test_bar_fit_size(void **state) {
        const uint64_t MiB = UINT64_C(1) << 20, GiB = UINT64_C(1) << 30, two_mib[] = { 2 * MiB };
        const uint64_t sizes = 0x3f00; /* 256 MiB ... 8 GiB */
        PciResource w = { .start = 0x6000000000, .end = 0x6000000000 + 16 * GiB - 1, .flags = 0x14220c };
        uint64_t fit = 0;

        assert_int_equal(pci_bar_fit_size(&w, sizes, two_mib, 1, &fit), 0);
        assert_int_equal(fit, 8 * GiB);
        /* 8 GiB and the 2 MiB BAR do not fit an 8 GiB window: the next smaller size does. */
        w.end = w.start + 8 * GiB - 1;
        assert_int_equal(pci_bar_fit_size(&w, sizes, two_mib, 1, &fit), 0);
        assert_int_equal(fit, 4 * GiB);
        assert_int_equal(pci_bar_fit_size(&w, sizes, NULL, 0, &fit), 0);
        assert_int_equal(fit, 8 * GiB);
        /* The Thunderbolt case: a 512 MiB window that the 2 MiB BAR shares leaves the 256 MiB the host gave.
         */
        w.end = w.start + 512 * MiB - 1;
        assert_int_equal(pci_bar_fit_size(&w, sizes, two_mib, 1, &fit), 0);
        assert_int_equal(fit, 256 * MiB);
        w.end = w.start + 128 * MiB - 1;
        assert_int_equal(pci_bar_fit_size(&w, sizes, two_mib, 1, &fit), -ENOSPC);
        /* A window that starts 1 MiB past a 1 GiB boundary cannot hold a 1 GiB BAR in 1 GiB + 1 MiB. */
        w = (PciResource){ .start = 0x60100000, .end = 0x60100000 + GiB + MiB - 1, .flags = 0x14220c };
        assert_int_equal(pci_bar_fit_size(&w, sizes, NULL, 0, &fit), 0);
        assert_int_equal(fit, 512 * MiB);
        assert_int_equal(
                pci_bars_packed_end(0, (const uint64_t[]){ 2 * MiB, 8 * GiB }, 2),
                8 * GiB + 2 * MiB);
}

#define ZERO_LINE "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"

/* A bridge's "resource" as a kernel with CONFIG_PCI_IOV shows it: 17 lines, the windows at 13 (I/O), 14
 * (memory), 15 (prefetchable, from 0x6000000000 to pref_end). */
static void write_bridge_resource(const char *root, uint64_t pref_end) {
        _cleanup_free_ char *text = NULL;

        assert_true(
                asprintf(
                        &text,
                        ZERO_LINE ZERO_LINE ZERO_LINE ZERO_LINE ZERO_LINE ZERO_LINE ZERO_LINE ZERO_LINE
                                ZERO_LINE ZERO_LINE ZERO_LINE ZERO_LINE ZERO_LINE
                        "0x0000000000003000 0x0000000000003fff 0x0000000000000100\n"
                        "0x0000000062000000 0x00000000621fffff 0x0000000000000200\n"
                        "0x0000006000000000 0x%016" PRIx64 " 0x0000000000102201\n" ZERO_LINE,
                        pref_end) > 0);
        write_file(root, "bridge/resource", text);
}

/* A Vega 56 below its switch's downstream port: BAR 0 resizable up to 8 GiB, at 256 MiB; BAR 2 2 MiB. */
static void test_plan_bars(void **state) {
        _cleanup_free_ char *root = make_tmp_dir(), *bp = path_join(root, "bridge"),
                            *gp = path_join(root, "gpu"), *ap = path_join(root, "audio");
        PciFunction bridge = { .syspath = bp }, gpu = { .syspath = gp, .parent = &bridge },
                    audio = { .syspath = ap, .parent = &bridge };
        PciFunction *all[] = { &bridge, &gpu, &audio };
        _cleanup_free_ PciBarPlan *plans = NULL;
        _cleanup_free_ PciBar *bars = NULL;
        size_t n = 0;

        write_file(
                root,
                "gpu/resource",
                "0x0000006000000000 0x000000600fffffff 0x000000000014220c\n" ZERO_LINE
                "0x0000006010000000 0x00000060101fffff 0x000000000014220c\n" ZERO_LINE
                "0x0000000000003000 0x00000000000030ff 0x0000000000040101\n"
                "0x0000000062000000 0x000000006207ffff 0x0000000000040200\n" ZERO_LINE ZERO_LINE ZERO_LINE
                        ZERO_LINE ZERO_LINE ZERO_LINE ZERO_LINE);
        write_file(root, "gpu/resource0_resize", "0000000000003f00\n");
        write_file(
                root,
                "audio/resource",
                "0x00000000620a0000 0x00000000620a3fff 0x0000000000140204\n" ZERO_LINE ZERO_LINE ZERO_LINE
                        ZERO_LINE ZERO_LINE ZERO_LINE);
        write_bridge_resource(root, 0x63ffffffff); /* 16 GiB */

        assert_int_equal(pci_function_read_bars(&gpu, &bars, &n), 0);
        assert_int_equal(n, 4); /* 0, 2, 4 (I/O), 5; the upper halves of 0 and 2 have no flags */
        assert_int_equal(bars[0].index, 0);
        assert_int_equal(bars[0].size, UINT64_C(256) << 20);
        assert_int_equal(bars[0].resizable_sizes, 0x3f00);
        assert_int_equal(bars[1].index, 2);
        assert_int_equal(bars[1].resizable_sizes, 0);

        assert_int_equal(pci_function_plan_bars(&gpu, all, ELEMENTSOF(all), &plans, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(plans[0].index, 0);
        assert_true(plans[0].prefetchable);
        assert_int_equal(plans[0].current, UINT64_C(256) << 20);
        assert_int_equal(plans[0].largest, UINT64_C(8) << 30);
        assert_int_equal(plans[0].planned, UINT64_C(8) << 30);
        assert_int_equal(plans[0].window, UINT64_C(16) << 30);
        assert_int_equal(plans[0].needed, (UINT64_C(8) << 30) + (UINT64_C(2) << 20));
        plans = mfree(plans);

        /* A 512 MiB window: BAR 2 takes 2 MiB of it, so BAR 0 stays at 256 MiB, and 8 GiB + 2 MiB is needed.
         */
        write_bridge_resource(root, 0x601fffffff);
        assert_int_equal(pci_function_plan_bars(&gpu, all, ELEMENTSOF(all), &plans, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(plans[0].planned, UINT64_C(256) << 20);
        assert_int_equal(plans[0].window, UINT64_C(512) << 20);
        assert_int_equal(plans[0].needed, (UINT64_C(8) << 30) + (UINT64_C(2) << 20));
        plans = mfree(plans);

        /* No window to read (the parent shows no resource): the BAR keeps its size. */
        gpu.parent = NULL;
        assert_int_equal(pci_function_plan_bars(&gpu, all, ELEMENTSOF(all), &plans, &n), 0);
        assert_int_equal(plans[0].planned, UINT64_C(256) << 20);
        assert_int_equal(plans[0].window, 0);
        rm_rf_tree(root);
}

/* "Is it installed": the places DKMS and kmod use, under root. */
static void test_module_installed(void **state) {
        _cleanup_free_ char *root = make_tmp_dir();

        assert_false(kernel_module_installed(root, "vendor-reset"));
        write_file(root, "lib/modules/6.8.12-4-pve/updates/dkms/vendor-reset.ko.xz", "");
        assert_true(kernel_module_installed(root, "vendor-reset"));
        assert_false(kernel_module_installed(root, "vendor"));
        rm_rf_tree(root);
}

/* Inside a umockdev testbed, a /dev or /proc path the testbed lacks would reach the host's: egpuctl must
 * not open it. Outside one, every path is the host's own. */
static void test_path_passes_testbed(void **state) {
        _cleanup_free_ char *root = make_tmp_dir(), *saved = NULL;
        const char *e = getenv("UMOCKDEV_DIR");

        if (e)
                assert_non_null(saved = strdup(e));
        write_file(root, "dev/vfio/25", "");
        assert_int_equal(setenv("UMOCKDEV_DIR", root, 1), 0);
        assert_false(path_passes_testbed("/dev/vfio/25"));
        assert_true(path_passes_testbed("/dev/vfio/26"));
        assert_true(path_passes_testbed("/dev/kmsg"));
        assert_true(path_passes_testbed("/proc/1/cmdline"));
        assert_false(path_passes_testbed("/sys/bus/pci")); /* umockdev redirects /sys always */
        assert_false(path_passes_testbed("/run/egpuctl/lock"));
        assert_int_equal(unsetenv("UMOCKDEV_DIR"), 0);
        assert_false(path_passes_testbed("/dev/vfio/26"));
        if (saved)
                assert_int_equal(setenv("UMOCKDEV_DIR", saved, 1), 0);
        rm_rf_tree(root);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_bytes),
                cmocka_unit_test(test_parse_sec),
                cmocka_unit_test(test_conf_files_list),
                cmocka_unit_test(test_pci_ids),
                cmocka_unit_test(test_port_path),
                cmocka_unit_test(test_has_rom),
                cmocka_unit_test(test_module_installed),
                cmocka_unit_test(test_safe_atou32),
                cmocka_unit_test(test_utf8_sanitize),
                cmocka_unit_test(test_str_printable),
                cmocka_unit_test(test_bdf),
                cmocka_unit_test(test_strv_split),
                cmocka_unit_test(test_group_viability),
                cmocka_unit_test(test_str_index),
                cmocka_unit_test(test_path_passes_testbed),
        };
        /* pci-bar.c: the masks, the fit, the plan */
        const struct CMUnitTest pci_bar_tests[] = {
                cmocka_unit_test(test_rebar_sizes),
                cmocka_unit_test(test_bar_fit_size),
                cmocka_unit_test(test_plan_bars),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);

        return cmocka_run_group_tests(pci_bar_tests, NULL, NULL) + r;
}
