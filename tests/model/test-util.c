/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "iommu-group.h"
#include "pci-function.h"
#include "util.h"

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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_safe_atou32),   cmocka_unit_test(test_utf8_sanitize),
                cmocka_unit_test(test_str_printable), cmocka_unit_test(test_bdf),
                cmocka_unit_test(test_strv_split),    cmocka_unit_test(test_group_viability),
                cmocka_unit_test(test_str_index),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
