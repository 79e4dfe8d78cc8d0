/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The Proxmox parsers of src/lib/proxmox.c: property strings, VM configs, mapping entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxmox.h"
#include "util.h"

static void test_prop_string(void **state) {
        _cleanup_(prop_string_done) PropString p = {}, q = {}, e = {};
        PropString bad = {};

        assert_int_equal(prop_string_parse("0000:30:00.0,pcie=1,,x-vga=on,romfile=a=b", "host", &p), 0);
        assert_int_equal(p.n, 4);
        assert_string_equal(p.keys[0], "host");
        assert_string_equal(prop_string_get(&p, "host"), "0000:30:00.0");
        assert_string_equal(prop_string_get(&p, "pcie"), "1");
        assert_string_equal(prop_string_get(&p, "romfile"), "a=b");
        assert_null(prop_string_get(&p, "rombar"));
        assert_null(p.keys[4]);
        assert_null(p.values[4]);

        /* The first of a key written twice; an empty value is a value. */
        assert_int_equal(prop_string_parse("mapping=egpu,mapping=other,pcie=", NULL, &q), 0);
        assert_int_equal(q.n, 3);
        assert_string_equal(prop_string_get(&q, "mapping"), "egpu");
        assert_string_equal(prop_string_get(&q, "pcie"), "");

        assert_int_equal(prop_string_parse(",,", "host", &e), 0);
        assert_int_equal(e.n, 0);

        /* Only the first element may leave out its key, and only with a default key. */
        assert_int_equal(prop_string_parse("pcie=1,0000:30:00.0", "host", &bad), -EINVAL);
        assert_int_equal(prop_string_parse("0000:30:00.0", NULL, &bad), -EINVAL);
}

static void test_prop_string_next(void **state) {
        const char *s = ",a=1,b,,=c,d=";
        char *k, *v;

        assert_int_equal(prop_string_next(&s, &k, &v), 1);
        assert_string_equal(k, "a");
        assert_string_equal(v, "1");
        free(k), free(v);
        assert_int_equal(prop_string_next(&s, &k, &v), 1);
        assert_null(k);
        assert_string_equal(v, "b");
        free(v);
        assert_int_equal(prop_string_next(&s, &k, &v), 1);
        assert_string_equal(k, "");
        assert_string_equal(v, "c");
        free(k), free(v);
        assert_int_equal(prop_string_next(&s, &k, &v), 1);
        assert_string_equal(k, "d");
        assert_string_equal(v, "");
        free(k), free(v);
        assert_int_equal(prop_string_next(&s, &k, &v), 0);
        assert_int_equal(prop_string_next(&s, &k, &v), 0);
}

static void test_vm_config(void **state) {
        _cleanup_(vm_config_done) VmConfig c = {}, e = {};

        assert_int_equal(
                vm_config_parse(
                        "# a description\n"
                        "name: ollama\r\n"
                        "\n"
                        "  hostpci0:  0000:30:00.0,pcie=1  \n"
                        "no colon here\n"
                        "args:\n"
                        "hostpci0: 0000:31:00.0\n"
                        "[snap1]\n"
                        "machine: pc\n",
                        &c),
                0);
        assert_int_equal(c.n, 4);
        assert_string_equal(c.keys[0], "name");
        assert_string_equal(c.values[0], "ollama");
        assert_int_equal(c.lines[0], 2);
        assert_string_equal(c.keys[1], "hostpci0");
        assert_string_equal(c.values[1], "0000:30:00.0,pcie=1");
        assert_int_equal(c.lines[1], 4);
        assert_string_equal(c.keys[2], "args");
        assert_string_equal(c.values[2], "");
        assert_int_equal(c.lines[3], 7);
        assert_string_equal(vm_config_get(&c, "hostpci0"), "0000:30:00.0,pcie=1");
        assert_null(vm_config_get(&c, "machine"));
        assert_null(c.keys[4]);

        assert_int_equal(vm_config_parse("", &e), 0);
        assert_int_equal(e.n, 0);
        assert_null(vm_config_get(&e, "name"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_prop_string),
                cmocka_unit_test(test_prop_string_next),
                cmocka_unit_test(test_vm_config),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
