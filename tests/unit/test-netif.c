/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "netif.h"
#include "util.h"

/* auto and allow-* lines: every occurrence is kept with its line, auto_names has each name once, in the
 * order of its first occurrence. */
static void test_duplicate_auto(void **state) {
        _cleanup_(interfaces_freep) InterfacesFile *f = NULL;

        assert_int_equal(
                interfaces_parse(
                        "auto lo eth0 lo\n"
                        "iface lo inet loopback\n"
                        "allow-hotplug eth1 eth0\n"
                        "auto vmbr0 eth1\n"
                        "iface vmbr0 inet static\n"
                        "  bridge-ports eth0\n"
                        "auto lo\n",
                        &f),
                0);
        assert_int_equal(f->n_autos, 8);
        assert_string_equal(f->autos[2].name, "lo");
        assert_int_equal(f->autos[2].line, 0);
        assert_false(f->autos[2].allow);
        assert_string_equal(f->autos[4].name, "eth0");
        assert_int_equal(f->autos[4].line, 2);
        assert_true(f->autos[4].allow);
        assert_int_equal(f->autos[7].line, 6);
        assert_int_equal(strv_length(f->auto_names), 4);
        assert_string_equal(f->auto_names[0], "lo");
        assert_string_equal(f->auto_names[1], "eth0");
        assert_string_equal(f->auto_names[2], "eth1");
        assert_string_equal(f->auto_names[3], "vmbr0");
        assert_int_equal(f->n_stanzas, 2);
        assert_int_equal(f->stanzas[1].options[0].line, 5);
}

static void test_strv_uniq(void **state) {
        _cleanup_strv_free_ char **l = NULL, **e = NULL;

        assert_int_equal(strv_split("b a b c a b d", " ", &l), 0);
        assert_int_equal(strv_uniq(l, SIZE_MAX), 4);
        assert_string_equal(l[0], "b");
        assert_string_equal(l[1], "a");
        assert_string_equal(l[2], "c");
        assert_string_equal(l[3], "d");
        assert_null(l[4]);
        assert_int_equal(strv_split("", " ", &e), 0);
        assert_int_equal(strv_uniq(e, SIZE_MAX), 0);
        assert_int_equal(strv_uniq(NULL, 0), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_duplicate_auto),
                cmocka_unit_test(test_strv_uniq),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
