/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The Proxmox parsers of src/system/proxmox.c: property strings, VM configs, mapping entries. */
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

/* parse, format, parse: the same entry, and the same string the second time. */
static void assert_round_trip(const char *s) {
        _cleanup_(pci_map_entry_done) PciMapEntry a = { .iommugroup = -1 }, b = { .iommugroup = -1 };
        _cleanup_free_ char *f = NULL, *g = NULL;

        assert_int_equal(pci_map_entry_parse(s, &a), 0);
        assert_int_equal(pci_map_entry_format(&a, &f), 0);
        assert_int_equal(pci_map_entry_parse(f, &b), 0);
        assert_true(pci_map_entry_equal(&a, &b));
        assert_string_equal(strempty(a.description), strempty(b.description));
        assert_int_equal(pci_map_entry_format(&b, &g), 0);
        assert_string_equal(f, g);
}

static void test_pci_map_entry(void **state) {
        _cleanup_(pci_map_entry_done) PciMapEntry e = { .iommugroup = -1 }, n = { .iommugroup = -1 },
                                                  x = { .iommugroup = -1 };
        _cleanup_free_ char *f = NULL, *g = NULL, *h = NULL;
        PciMapEntry bad = { .iommugroup = -1 };

        assert_int_equal(
                pci_map_entry_parse(
                        "node=pve1,path=0000:30:00.0,id=1002:687f,iommugroup=25,subsystem-id=1002:0b36",
                        &e),
                0);
        assert_string_equal(e.node, "pve1");
        assert_string_equal(e.path, "0000:30:00.0");
        assert_string_equal(e.id, "1002:687f");
        assert_string_equal(e.subsystem_id, "1002:0b36");
        assert_int_equal(e.iommugroup, 25);
        assert_null(e.description);
        assert_int_equal(pci_map_entry_format(&e, &f), 0);
        assert_string_equal(
                f,
                "id=1002:687f,iommugroup=25,node=pve1,path=0000:30:00.0,subsystem-id=1002:0b36");

        /* A negative group is kept, no id= is not written as an empty one. */
        assert_int_equal(pci_map_entry_parse("node=pve1,path=0000:30:00,iommugroup=-5", &n), 0);
        assert_null(n.id);
        assert_int_equal(n.iommugroup, -5);
        assert_int_equal(pci_map_entry_format(&n, &g), 0);
        assert_string_equal(g, "iommugroup=-5,node=pve1,path=0000:30:00");

        /* A group that is no number is absent. */
        assert_int_equal(pci_map_entry_parse("iommugroup=x,node=a,path=b,description=the eGPU", &x), 0);
        assert_int_equal(x.iommugroup, -1);
        assert_int_equal(pci_map_entry_format(&x, &h), 0);
        assert_string_equal(h, "node=a,path=b,description=the eGPU");

        assert_round_trip("node=pve1,path=0000:30:00.0,id=1002:687f,iommugroup=25,subsystem-id=1002:0b36");
        assert_round_trip("node=pve1,path=0000:30:00.0,iommugroup=-5");
        assert_round_trip("node=pve1,path=0000:30:00.0,iommugroup=-1");
        assert_round_trip("node=pve1,path=0000:30:00.0,iommugroup=-2147483648,id=");
        assert_round_trip("node=pve1,path=0000:30:00.0,iommugroup=99999999999");
        assert_round_trip("node=pve1,path=0000:30:00.0,iommugroup=007,iommugroup=8");
        assert_round_trip("path=,node=,id=,subsystem-id=,description=");
        assert_round_trip("node=a=b,path=c,,id=1002:687f,description=x=y");

        /* node and path are needed; every element has a key. */
        assert_int_equal(pci_map_entry_parse("node=pve1", &bad), -EINVAL);
        assert_int_equal(pci_map_entry_parse("path=0000:30:00.0", &bad), -EINVAL);
        assert_int_equal(pci_map_entry_parse("node=pve1,path=0000:30:00.0,x", &bad), -EINVAL);
}

static void test_pci_address_normalize(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        char *x = NULL;

        assert_int_equal(pci_address_normalize("3A:00.0", &a), 0);
        assert_string_equal(a, "0000:3a:00.0");
        assert_int_equal(pci_address_normalize("0000:30:00", &b), 0);
        assert_string_equal(b, "0000:30:00");
        assert_int_equal(pci_address_normalize("0000:30:00.1", &c), 0);
        assert_string_equal(c, "0000:30:00.1");
        assert_int_equal(pci_address_normalize("", &x), -EINVAL);
        assert_int_equal(pci_address_normalize("30", &x), -EINVAL);
        assert_int_equal(pci_address_normalize("0000:30:00.0 ", &x), -EINVAL);
        assert_int_equal(pci_address_normalize("1:2:3:4", &x), -EINVAL);
        assert_null(x);
}

static void test_pci_mapping_from_cfg(void **state) {
        _cleanup_(pci_mapping_done) PciMapping m = {};
        PciMapping none = {};
        const char *cfg = "# pci.cfg\n"
                          "other\n"
                          "\tmap node=pve,path=0000:01:00.0\n"
                          "\n"
                          "egpu \n"
                          "\tdescription  the eGPU\n"
                          "\tmap\n"
                          "\tmap id=1002:687f,node=pve1,path=0000:30:00.0\n"
                          "    map\tid=1002:687f,node=pve2,path=0000:31:00\r\n"
                          "last\n"
                          "\tmap node=pve,path=0000:02:00.0\n";

        assert_int_equal(pci_mapping_from_cfg(cfg, "egpu", &m), 1);
        assert_string_equal(m.id, "egpu");
        assert_string_equal(m.description, "the eGPU");
        assert_null(m.digest);
        assert_int_equal(strv_length(m.map), 2);
        assert_string_equal(m.map[0], "id=1002:687f,node=pve1,path=0000:30:00.0");
        assert_string_equal(m.map[1], "id=1002:687f,node=pve2,path=0000:31:00");
        assert_int_equal(pci_mapping_from_cfg(cfg, "egp", &none), 0);
        assert_int_equal(pci_mapping_from_cfg("", "egpu", &none), 0);
        assert_null(none.id);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_prop_string),
                cmocka_unit_test(test_prop_string_next),
                cmocka_unit_test(test_vm_config),
                cmocka_unit_test(test_pci_map_entry),
                cmocka_unit_test(test_pci_address_normalize),
                cmocka_unit_test(test_pci_mapping_from_cfg),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
