/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The Proxmox parsers of src/system/proxmox.c: property strings, VM configs, mapping entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

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
        _cleanup_(pci_map_entry_done) PciMapEntry e = { .iommugroup = -1 }, n = { .iommugroup = -1 };
        _cleanup_free_ char *f = NULL, *g = NULL;
        PciMapEntry bad = { .iommugroup = -1 };
        char *x = NULL;

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

        /* No group is not written; a negative one is kept (JSONSchema's integer has a sign). */
        assert_int_equal(
                pci_map_entry_parse(
                        " ,node=pve1,,path=0000:30:00;0000:31:00.1,id=10DE:2504,iommugroup=-5,",
                        &n),
                0);
        assert_int_equal(n.iommugroup, -5);
        assert_int_equal(pci_map_entry_format(&n, &g), 0);
        assert_string_equal(g, "id=10DE:2504,iommugroup=-5,node=pve1,path=0000:30:00;0000:31:00.1");

        assert_round_trip("id=1002:687f,iommugroup=25,node=pve1,path=0000:30:00.0,subsystem-id=1002:0b36");
        assert_round_trip("id=1002:687f,node=pve-2,path=0000:30:00,description=the eGPU = left port");
        assert_round_trip("id=1002:687f,iommugroup=-2147483648,node=a,path=10000:e1:00.7");

        /* What Proxmox refuses to read, the parser refuses too (parse_property_string() with $map_fmt). */
        const char *const refused[] = {
                "node=pve1",                                          /* no path, no id */
                "node=pve1,path=0000:30:00.0",                        /* no id */
                "node=pve1,path=0000:30:00.0,id=1002:687f,x",         /* no key */
                "node=pve1,path=0000:30:00.0,id=1002:687f,x=1",       /* unknown key */
                "node=pve1,path=0000:30:00.0,id=1002:687f,node=pve2", /* a key twice */
                "node=pve1,path=0000:30:00.0,id=1002:687f,iommugroup=007,iommugroup=8",
                "node=pve1,path=0000:30:00.0,id=1002:687f,description=",           /* no value */
                "node=pve1,path=0000:30:00.0,id=1002:687f,iommugroup=x",           /* no integer */
                "node=pve1,path=0000:30:00.0,id=1002:687f,iommugroup=99999999999", /* not an int */
                "node=pve 1,path=0000:30:00.0,id=1002:687f",                       /* not a pve-node */
                "node=-pve,path=0000:30:00.0,id=1002:687f",
                "node=a=b,path=0000:30:00.0,id=1002:687f",
                "node=pve1,path=0000:30:00.0;,id=1002:687f", /* not a path */
                "node=pve1,path=0000:3A:00.0,id=1002:687f",
                "node=pve1,path=30:00.0,id=1002:687f",
                "node=pve1,path=0000:30:00.0,id=1002:687", /* not VVVV:DDDD */
                "node=pve1,path=0000:30:00.0,id=1002:687f,subsystem-id=1002-0b36",
                " node=pve1,path=0000:30:00.0,id=1002:687f", /* key " node" */
        };
        FOREACH_ARRAY(r, refused, ELEMENTSOF(refused)) {
                assert_int_equal(pci_map_entry_parse(*r, &bad), -EINVAL);
                assert_null(bad.node);
        }

        /* What would not read back as written is not written: a ',' splits the value, an empty one is no
         * value. */
        PciMapEntry comma = { .node = (char *) "pve1",
                              .path = (char *) "0000:30:00",
                              .id = (char *) "1002:687f",
                              .description = (char *) "left, upper port",
                              .iommugroup = -1 };
        assert_int_equal(pci_map_entry_format(&comma, &x), -EINVAL);
        comma.description = (char *) "";
        assert_int_equal(pci_map_entry_format(&comma, &x), -EINVAL);
        comma.description = NULL;
        comma.node = (char *) "pve_1"; /* no pve-node */
        assert_int_equal(pci_map_entry_format(&comma, &x), -EINVAL);
        assert_null(x);
}

/* Mapping ids as pvesh takes them: "invalid configuration ID 'e'". */
/* This node's entries become exactly the wanted ones; others and unparseable ones stay verbatim and in
 * place; a person's description follows the path, else the next wanted entry in order. */
static void test_pci_map_set_node(void **state) {
        char *map[] = {
                (char *) "id=1002:687f,node=other,path=0000:05:00",
                (char *) "id=1002:687f,iommugroup=25,node=n1,path=0000:30:00,description=left",
                (char *) "id=1002:687f,iommugroup=36,node=n1,path=0000:54:00,description=right port",
                (char *) "garbage",
                NULL,
        };
        PciMapEntry want[] = {
                { .node = (char *) "n1",
                  .path = (char *) "0000:30:00",
                  .id = (char *) "1002:687f",
                  .iommugroup = 25 },
                { .node = (char *) "n1",
                  .path = (char *) "0000:64:00",
                  .id = (char *) "1002:687f",
                  .iommugroup = 52 },
        };
        char **out = NULL;
        bool changed;

        assert_int_equal(pci_map_set_node(map, "n1", want, 2, &out, &changed), 0);
        assert_true(changed);
        assert_int_equal(strv_length(out), 4);
        assert_string_equal(out[0], "id=1002:687f,node=other,path=0000:05:00");
        assert_string_equal(out[1], "id=1002:687f,iommugroup=25,node=n1,path=0000:30:00,description=left");
        assert_string_equal(
                out[2],
                "id=1002:687f,iommugroup=52,node=n1,path=0000:64:00,description=right port");
        assert_string_equal(out[3], "garbage");
        strv_free(out);

        /* One left: the other's entry goes, with its description. */
        assert_int_equal(pci_map_set_node(map, "n1", want, 1, &out, &changed), 0);
        assert_true(changed);
        assert_int_equal(strv_length(out), 3);
        assert_string_equal(out[1], "id=1002:687f,iommugroup=25,node=n1,path=0000:30:00,description=left");
        strv_free(out);

        /* Already so: unchanged. */
        want[1].path = (char *) "0000:54:00";
        want[1].iommugroup = 36;
        assert_int_equal(pci_map_set_node(map, "n1", want, 2, &out, &changed), 0);
        assert_false(changed);
        strv_free(out);

        /* A node with none yet: at the end. */
        assert_int_equal(pci_map_set_node(map, "other", want, 0, &out, &changed), 0);
        assert_true(changed);
        assert_int_equal(strv_length(out), 3);
        strv_free(out);
}

static void test_configid(void **state) {
        assert_true(proxmox_configid_is_valid("egpu"));
        assert_true(proxmox_configid_is_valid("e1"));
        assert_true(proxmox_configid_is_valid("My_eGPU-2"));
        assert_false(proxmox_configid_is_valid("e"));
        assert_false(proxmox_configid_is_valid(""));
        assert_false(proxmox_configid_is_valid("1gpu"));
        assert_false(proxmox_configid_is_valid("-gpu"));
        assert_false(proxmox_configid_is_valid("e.gpu"));
        assert_false(proxmox_configid_is_valid("egpu "));
}

/* vm attach's value: the person's options kept, the device and pcie= set. */
static void test_hostpci_value_set(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        assert_int_equal(
                hostpci_value_set("mapping=egpu,pcie=1,x-vga=1,romfile=vega.rom", "egpu", 1, -1, &a),
                0);
        assert_string_equal(a, "mapping=egpu,pcie=1,x-vga=1,romfile=vega.rom");
        assert_int_equal(hostpci_value_set("0000:30:00.0,x-vga=1,rombar=1", "egpu", 1, 0, &b), 0);
        assert_string_equal(b, "mapping=egpu,x-vga=1,rombar=0,pcie=1");
        assert_int_equal(hostpci_value_set("host=0000:30:00,pcie=0,rombar=0", NULL, 1, -1, &c), 0);
        assert_string_equal(c, "host=0000:30:00,pcie=1,rombar=0");
        assert_int_equal(hostpci_value_set("", "egpu", 1, -1, &d), 0);
        assert_string_equal(d, "mapping=egpu,pcie=1");
}

/* vm attach --live's port: QEMU's size syntax, and a VM's args rewritten with the person's words kept. */
static void test_live_port(void **state) {
        _cleanup_free_ char *dev = NULL, *small = NULL, *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        char *none = (char *) 1;
        uint64_t window = 1;
        bool mine = true;

        assert_int_equal(proxmox_live_port_device(UINT64_C(16) << 30, &dev), 0);
        assert_string_equal(
                dev,
                "pcie-root-port,id=egpuctl-port0,bus=pcie.0,addr=0x8,chassis=200,port=200,x-speed=16,"
                "x-width=32,pref64-reserve=16G");
        assert_int_equal(proxmox_live_port_device(UINT64_C(384) << 20, &small), 0);
        assert_true(strstr(small, ",pref64-reserve=384M") != NULL);

        /* appended to no args, to a person's args; replaced where it was, the rest as written */
        assert_int_equal(proxmox_args_set_live_port(NULL, "X", &a), 0);
        assert_string_equal(a, "-device X");
        assert_int_equal(proxmox_args_set_live_port("-no-reboot -smbios 'type=0,vendor=FOO'", "X", &b), 0);
        assert_string_equal(b, "-no-reboot -smbios 'type=0,vendor=FOO' -device X");
        assert_int_equal(
                proxmox_args_set_live_port(
                        "-no-reboot -device pcie-root-port,id=egpuctl-port0,pref64-reserve=1G -device "
                        "pcie-root-port,id=mine,pref64-reserve=2G",
                        "Y",
                        &c),
                0);
        assert_string_equal(c, "-no-reboot -device pcie-root-port,id=mine,pref64-reserve=2G -device Y");
        /* taken out: nothing left is NULL */
        assert_int_equal(
                proxmox_args_set_live_port("-device 'pcie-root-port,id=egpuctl-port0'", NULL, &none),
                0);
        assert_null(none);
        assert_int_equal(
                proxmox_args_set_live_port("-a  -device pcie-root-port,id=egpuctl-port0 -b", NULL, &d),
                0);
        assert_string_equal(d, "-a -b");

        /* the ports of args: the largest reserve, whether egpuctl's is there */
        assert_int_equal(proxmox_args_live_ports(c, &window, &mine), 1);
        assert_int_equal(window, UINT64_C(2) << 30);
        assert_false(mine);
        assert_int_equal(proxmox_args_live_ports(b, &window, &mine), 0);
        assert_int_equal(window, 0);
        assert_int_equal(
                proxmox_args_live_ports(
                        "--device \"pcie-root-port,id=egpuctl-port0,pref64-reserve=256M\"",
                        &window,
                        &mine),
                1);
        assert_int_equal(window, UINT64_C(256) << 20);
        assert_true(mine);
        assert_int_equal(
                proxmox_args_live_ports("-device pcie-root-port,id=x,pref64-reserve=12Q", &window, &mine),
                1);
        assert_int_equal(window, 0);
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
        _cleanup_(pci_mapping_done) PciMapping m = {}, l = {}, t = {};
        PciMapping none = {};
        /* As Proxmox writes the file (write_config(): each section then a blank line), and what its
         * parse_config() makes of what is not. */
        const char *cfg = "# pci.cfg\n"
                          "other\n"
                          "\tmap id=10de:2504,node=pve,path=0000:01:00.0\n"
                          "\n"
                          "egpu \n"
                          "\tdescription  the eGPU\n"
                          "\tmap\n"
                          "\tmap id=1002:687f,node=pve1,path=0000:30:00.0\n"
                          "# a comment does not end it\n"
                          "    map\tid=1002:687f,node=pve2,path=0000:31:00\r\n"
                          "\tmap node=pve3,path=0000:32:00\n"
                          "\tdescription a second one\n"
                          "last\n"
                          "\tmap id=1002:687f,node=pve4,path=0000:33:00\n"
                          "\n"
                          "\tmap id=1002:687f,node=pve5,path=0000:34:00\n"
                          "\n"
                          "late\n"
                          "\tmap id=1002:687f,node=pve6,path=0000:35:00\n"
                          "\n";

        assert_int_equal(pci_mapping_from_cfg(cfg, "egpu", &m), 1);
        assert_string_equal(m.id, "egpu");
        assert_string_equal(m.description, "the eGPU");
        assert_null(m.digest);
        /* "\tmap" has no value, pve3's entry no id; "last" is no new section before a blank line, so pve4's
         * entry is egpu's; pve5's stands after the blank line, outside any section. */
        assert_int_equal(strv_length(m.map), 3);
        assert_string_equal(m.map[0], "id=1002:687f,node=pve1,path=0000:30:00.0");
        assert_string_equal(m.map[1], "id=1002:687f,node=pve2,path=0000:31:00");
        assert_string_equal(m.map[2], "id=1002:687f,node=pve4,path=0000:33:00");
        assert_int_equal(pci_mapping_from_cfg(cfg, "last", &none), 0);
        assert_int_equal(pci_mapping_from_cfg(cfg, "late", &l), 1);
        assert_int_equal(strv_length(l.map), 1);
        assert_int_equal(pci_mapping_from_cfg(cfg, "egp", &none), 0);
        assert_int_equal(pci_mapping_from_cfg("", "egpu", &none), 0);
        /* A section of the same id again replaces the first. */
        assert_int_equal(
                pci_mapping_from_cfg(
                        "egpu\n\tmap id=1002:687f,node=a,path=0000:30:00\n\n"
                        "egpu\n\tmap id=1002:687f,node=b,path=0000:31:00\n\n",
                        "egpu",
                        &t),
                1);
        assert_int_equal(strv_length(t.map), 1);
        assert_string_equal(t.map[0], "id=1002:687f,node=b,path=0000:31:00");
        assert_null(none.id);
}

/* The node name under a root comes from that root's /etc/hostname as hostname(5) reads it; the running
 * system's only where that file names nobody. */
static void test_node_name(void **state) {
        static const struct {
                const char *text; /* NULL: no file */
                const char *want; /* NULL: uname's short name */
        } cases[] = {
                { "pve.example.org\n", "pve" },
                { "# set by the installer\n\n  pve2 \n", "pve2" },
                { "pve3", "pve3" },
                { "", NULL },
                { "# nothing but a comment\n", NULL },
                { ".local\n", NULL },
                { NULL, NULL },
        };
        char root[] = "/tmp/test-proxmox-XXXXXX", etc[64], file[80];
        struct utsname u;
        char *name;

        assert_non_null(mkdtemp(root));
        snprintf(etc, sizeof(etc), "%s/etc", root);
        snprintf(file, sizeof(file), "%s/hostname", etc);
        assert_int_equal(mkdir(etc, 0755), 0);
        assert_int_equal(uname(&u), 0);
        u.nodename[strcspn(u.nodename, ".")] = '\0';
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                (void) unlink(file);
                if (cases[i].text) {
                        FILE *f = fopen(file, "we");

                        assert_non_null(f);
                        fputs(cases[i].text, f);
                        assert_int_equal(fclose(f), 0);
                }
                assert_int_equal(proxmox_node_name(root, &name), 0);
                assert_string_equal(name, cases[i].want ?: u.nodename);
                free(name);
        }
        assert_int_equal(proxmox_node_name(NULL, &name), 0); /* no root: the running system's */
        assert_string_equal(name, u.nodename);
        free(name);
        (void) unlink(file);
        assert_int_equal(rmdir(etc), 0);
        assert_int_equal(rmdir(root), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_prop_string),
                cmocka_unit_test(test_configid),
                cmocka_unit_test(test_hostpci_value_set),
                cmocka_unit_test(test_prop_string_next),
                cmocka_unit_test(test_vm_config),
                cmocka_unit_test(test_pci_map_entry),
                cmocka_unit_test(test_pci_address_normalize),
                cmocka_unit_test(test_live_port),
                cmocka_unit_test(test_pci_mapping_from_cfg),
                cmocka_unit_test(test_pci_map_set_node),
                cmocka_unit_test(test_node_name),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
