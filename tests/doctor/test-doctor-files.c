/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "check.h"
#include "doctor-files.h"
#include "pci-function.h"
#include "proxmox.h"
#include "usb-enclosures.h"
#include "util.h"
#include "vendor-reset-ids.h"

static void test_resource(void **state) {
        _cleanup_free_ PciResource *r = NULL;
        char s[FORMAT_BYTES_MAX];
        size_t n;

        assert_int_equal(
                pci_resource_parse(
                        "0x0000000000000000 0x00000001ffffffff 0x000000000014220c\n"
                        "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                        "0x0000000060000000 0x00000000601fffff 0x000000000014220c\n"
                        "junk\n0x1 0x2 0x3\n",
                        &r,
                        &n),
                0);
        assert_int_equal(n, 3);
        assert_true(pci_resource_unassigned(&r[0]));
        assert_false(pci_resource_unassigned(&r[1])); /* no flags: no BAR there */
        assert_false(pci_resource_unassigned(&r[2]));
        assert_true(pci_resource_size(&r[0]) == UINT64_C(8) << 30);
        assert_string_equal(format_bytes(s, sizeof(s), pci_resource_size(&r[0])), "8 GiB");
}

static void test_speed_efivar(void **state) {
        unsigned v;

        assert_int_equal(pcie_speed_parse("8.0 GT/s PCIe", &v), 0);
        assert_int_equal(v, 8000);
        assert_int_equal(pcie_speed_parse("2.5 GT/s", &v), 0);
        assert_int_equal(v, 2500);
        assert_int_equal(pcie_speed_parse("Unknown", &v), -EINVAL);
        assert_int_equal(pcie_speed_parse("", &v), -EINVAL);
        assert_int_equal(efivar_bool_parse("\x06\0\0\0\x01", 5), 1);
        assert_int_equal(efivar_bool_parse("\x06\0\0\0\0", 5), 0);
        assert_int_equal(efivar_bool_parse("\x06\0\0\0", 4), -EINVAL);
}

static void test_interfaces(void **state) {
        _cleanup_(net_config_done) NetConfig c = {};

        assert_int_equal(
                net_config_parse(
                        &c,
                        "/etc/network/interfaces",
                        "auto lo\niface lo inet loopback\n\n"
                        "iface enp86s0 inet manual\n"
                        "# bridge-ports commented\n"
                        "auto vmbr0\niface vmbr0 inet static\n  address 192.168.6.69/22\n"
                        "  bridge-ports enp86s0 eth9\n  bridge-stp off\n"
                        "iface bond0 inet manual\n  bond-slaves none\n"
                        "source /etc/network/interfaces.d/*\n"),
                0);
        assert_true(net_config_name_is_virtual(&c, "vmbr0"));
        assert_true(net_config_name_is_virtual(&c, "lo"));
        assert_false(net_config_name_is_virtual(&c, "enp86s0"));
        assert_string_equal(c.sources[0], "/etc/network/interfaces.d/*");
        /* lo (auto), lo (iface), enp86s0, vmbr0 (auto), vmbr0, enp86s0 and eth9 (bridge-ports), bond0 */
        assert_int_equal(c.n_refs, 8);
        assert_string_equal(c.refs[5].name, "enp86s0");
        assert_string_equal(c.refs[5].how, "bridge-ports");
        assert_int_equal(c.refs[5].line, 9);
}

static void test_pins(void **state) {
        _cleanup_(nic_pins_done) NicPins p = {};
        const NicPin *pin;

        assert_int_equal(
                nic_pins_parse_link(
                        &p,
                        "/etc/systemd/network/10-lan0.link",
                        "[Match]\nMACAddress=88:AE:DD:72:13:25\n\n[Link]\nName=lan0\n"),
                0);
        assert_int_equal(
                nic_pins_parse_udev_rules(
                        &p,
                        "/etc/udev/rules.d/10-stable-nic.rules",
                        "# x\nSUBSYSTEM==\"net\", ACTION==\"add\", "
                        "ATTR{address}==\"aa:bb:cc:dd:ee:ff\", NAME=\"wan0\"\n"
                        "ATTR{address}==\"11:22:33:44:55:66\", NAME==\"x\"\n"),
                0);
        assert_int_equal(p.n_pins, 2);
        pin = nic_pins_find_mac(&p, "88:ae:dd:72:13:25");
        assert_non_null(pin);
        assert_string_equal(pin->name, "lan0");
        assert_string_equal(nic_pins_find_name(&p, "wan0")->mac, "aa:bb:cc:dd:ee:ff");
        assert_null(nic_pins_find_mac(&p, "11:22:33:44:55:66")); /* NAME== matches, it does not assign */
}

/* The one parser of path-based names, and the one answer to "which NIC is this stale name". */
static void test_nic_names(void **state) {
        _cleanup_(nic_list_done) NicList l = {};
        const Nic *moved = NULL;
        char *key = NULL;
        unsigned bus;

        assert_int_equal(netif_path_name_key("enp88s0", &key, &bus), 0);
        assert_int_equal(bus, 88);
        free(key);
        assert_int_equal(netif_path_name_key("enP1p3s0f1", &key, &bus), 0);
        assert_int_equal(bus, 3);
        assert_string_equal(key, "en P1 s0f1");
        free(key);
        assert_int_equal(netif_path_name_key("eno1", &key, &bus), -EINVAL);
        assert_int_equal(netif_path_name_key("lan0", &key, &bus), -EINVAL);
        assert_int_equal(netif_path_name_key("xyp3s0", &key, &bus), -EINVAL); /* no such prefix */

        /* enp88s0 and enp88s0f1 now; enp87s0d1 also differs in its port. */
        l.nics = calloc(3, sizeof(Nic));
        assert_non_null(l.nics);
        l.nics[l.n++] = (Nic){ strdup("enp88s0"),
                               strdup("88:ae:dd:72:13:25"),
                               strdup("enp88s0"),
                               strdup("0000:58:00.0") };
        l.nics[l.n++] = (Nic){ strdup("enp88s0f1"),
                               strdup("88:ae:dd:72:13:26"),
                               strdup("enp88s0f1"),
                               strdup("0000:58:00.1") };
        l.nics[l.n++] = (Nic){ strdup("lan5"),
                               strdup("88:ae:dd:72:13:27"),
                               strdup("enp90s0d1"),
                               strdup("0000:5a:00.0") };
        assert_int_equal(strv_split("enp88s0 enp88s0f1 lan5 vmbr0", " ", &l.all_names), 0);
        assert_int_equal(nic_list_index(&l), 0);
        assert_int_equal(nic_list_find_moved(&l, "enp86s0", &moved), 1);
        assert_string_equal(moved->name, "enp88s0");
        assert_int_equal(nic_list_find_moved(&l, "enp86s0f1", &moved), 1);
        assert_string_equal(moved->name, "enp88s0f1");
        assert_int_equal(nic_list_find_moved(&l, "enp3s0d1", &moved), 1); /* by its path name */
        assert_string_equal(moved->name, "lan5");
        assert_int_equal(nic_list_find_moved(&l, "enp88s0", &moved), 0);   /* the same bus: itself */
        assert_int_equal(nic_list_find_moved(&l, "enp86s0f2", &moved), 0); /* no such function */
        assert_int_equal(nic_list_find_moved(&l, "eth0", &moved), 0);
        assert_true(nic_list_has_name(&l, "vmbr0"));
        assert_false(nic_list_has_name(&l, "enp86s0"));
        assert_string_equal(nic_list_find_mac(&l, "88:AE:DD:72:13:26")->name, "enp88s0f1");
        assert_string_equal(nic_list_find(&l, "lan5")->bdf, "0000:5a:00.0");

        /* Two NICs that enp86s0 could be: no answer. */
        free(l.nics[2].path_name);
        l.nics[2].path_name = strdup("enp91s0");
        assert_int_equal(nic_list_index(&l), 0);
        assert_int_equal(nic_list_find_moved(&l, "enp86s0", &moved), -ENOTUNIQ);
}

static void test_unit_list(void **state) {
        _cleanup_strv_free_ char **l = NULL, **m = NULL;

        assert_int_equal(
                unit_file_get_list(
                        "[Unit]\nAfter=a.service b.service\n# After=c\nAfter=d\n"
                        "[Service]\nAfter=x\n[Unit]\nAfter=\nAfter=pve-guests.service\n",
                        "Unit",
                        "After",
                        &l),
                0);
        assert_int_equal(strv_length(l), 1);
        assert_string_equal(l[0], "pve-guests.service");
        assert_int_equal(unit_file_get_list("", "Unit", "After", &m), 0);
        assert_int_equal(strv_length(m), 0);
}

static void test_pve(void **state) {
        _cleanup_(pve_vm_done) PveVm vm = {};
        _cleanup_strv_free_ char **paths = NULL;
        _cleanup_free_ char *fixed = NULL;

        assert_int_equal(
                pve_vm_parse(
                        &vm,
                        "name: ollama\nhostpci0: 0000:30:00.0,pcie=1,rombar=1\n"
                        "hostpci1: host=30:00,x-vga=1\nhostpci2: mapping=egpu\n"
                        "machine: pc-q35-9.0\n[snap1]\nmachine: pc\nhostpci3: 1:0.0\n"),
                0);
        assert_string_equal(vm.name, "ollama");
        assert_true(pve_machine_is_q35(vm.machine));
        assert_int_equal(vm.n_hostpci, 3);
        assert_int_equal(vm.hostpci[0].pcie, 1);
        assert_int_equal(vm.hostpci[0].rombar, 1);
        assert_string_equal(vm.hostpci[1].hosts[0], "0000:30:00");
        assert_int_equal(vm.hostpci[1].rombar, -1);
        assert_string_equal(vm.hostpci[2].mapping, "egpu");
        assert_true(pve_host_matches("0000:30:00", "0000:30:00.1"));
        assert_false(pve_host_matches("0000:30:00", "0000:30:000.1"));
        assert_true(pve_host_matches("0000:30:00.1", "0000:30:00.1"));
        assert_false(pve_machine_is_q35(NULL));
        assert_false(pve_machine_is_q35("pc-i440fx-9.0"));
        assert_int_equal(hostpci_value_set("0000:30:00.1,rombar=1,x-vga=1", NULL, 1, 0, &fixed), 0);
        assert_string_equal(fixed, "0000:30:00.1,rombar=0,x-vga=1,pcie=1");
        assert_int_equal(
                pve_mapping_paths(
                        "other\n\tmap id=10de:2504,node=pve,path=0000:01:00.0\n\negpu\n\tdescription x\n"
                        "\tmap id=1002:687f,node=pve,path=0000:30:00.0;0000:30:00.1\n"
                        "\tmap id=1002:687f,node=pve2,path=0000:05:00\n\n",
                        "egpu",
                        "pve",
                        &paths),
                0);
        assert_int_equal(strv_length(paths), 2); /* pve2's entry is not this node's */
        assert_string_equal(paths[1], "0000:30:00.1");
        strv_free(paths);
        paths = NULL;
        assert_int_equal(
                pve_mapping_paths(
                        "egpu\n\tmap id=1002:687f,node=pve2,path=0000:05:00\n\n",
                        "egpu",
                        "pve",
                        &paths),
                0);
        assert_int_equal(strv_length(paths), 0);
        assert_int_equal(pve_mapping_paths("egpu\n", "nope", "pve", &paths), -ENOENT);
}

static void test_tables(void **state) {
        UsbEnclosure e;

        assert_true(vendor_reset_supports(0x1002, 0x687f));
        assert_string_equal(vendor_reset_family(0x1002, 0x687f), "Vega 10");
        assert_true(vendor_reset_supports(0x1002, 0x731f));
        assert_false(vendor_reset_supports(0x1002, 0x744c)); /* Navi 31: not in vendor-reset */
        assert_false(vendor_reset_supports(0x1002, 0x73ff)); /* RX 6600: not in vendor-reset */
        assert_false(vendor_reset_supports(0x1002, 0x15dd)); /* Raven Ridge iGPU */
        assert_false(vendor_reset_supports(0x10de, 0x687f));

        /* A sourced id names its model; an eGPU maker's device goes by its own name, and says no model. */
        assert_true(usb_egpu_enclosure(0x1532, 0x0f1a, NULL, NULL, &e));
        assert_string_equal(e.model, "Core X Chroma");
        assert_true(usb_egpu_enclosure(0x1edb, 0xbe55, "Blackmagic Design", "eGPU Pro", &e));
        assert_string_equal(e.maker, "Blackmagic Design");
        assert_null(e.model);
        assert_false(usb_egpu_enclosure(0x1edb, 0xbe55, "Blackmagic Design", "ATEM Mini Pro", &e));
        assert_false(usb_egpu_enclosure(0x1532, 0x0084, "Razer", "DeathAdder V2", &e));
        assert_true(egpu_name_says_enclosure("Razer", "Core X Chroma"));
        assert_true(egpu_name_says_enclosure("Razer", "Core"));
        assert_false(egpu_name_says_enclosure("Intel", "Core Dock"));
        assert_true(egpu_name_says_enclosure(NULL, "EGPU"));
        assert_true(egpu_name_says_enclosure("Sonnet Technologies", "eGFX Breakaway Box"));
        assert_false(egpu_name_says_enclosure(NULL, "Dock"));
        assert_false(egpu_name_says_enclosure(NULL, NULL));
}

/* A step is given once when its lines are already there in a row: a step given before, one line of an
 * earlier step, lines of two steps, or of a fix set whole; a summary built of many problems. */
static void test_check_fix_steps(void **state) {
        _cleanup_(check_list_done) CheckList l = {};
        Check *c;

        c = check_list_begin(&l, "x");
        assert_non_null(c);
        assert_int_equal(check_fix(c, "a\nb"), 0);
        assert_int_equal(check_fix(c, "b"), 0); /* a line of the first */
        assert_int_equal(check_fix(c, "c\nd"), 0);
        assert_int_equal(check_fix(c, "b\nc"), 0); /* across two steps */
        assert_int_equal(check_fix(c, "a\nc"), 0); /* its lines are there, not in a row */
        assert_int_equal(check_fix(c, "a\nb"), 0);
        assert_string_equal(c->fix, "a\nb\nc\nd\na\nc");
        assert_int_equal(check_set_fix(c, "x\ny"), 0);
        assert_int_equal(check_fix(c, "y"), 0);
        assert_int_equal(check_fix(c, "x\ny"), 0);
        assert_int_equal(check_fix(c, "y\nx"), 0);
        assert_string_equal(c->fix, "x\ny\ny\nx");

        c = check_list_begin(&l, "y");
        assert_non_null(c);
        for (unsigned i = 0; i < 1000; i++) {
                assert_int_equal(check_problem(c, CHECK_WARN, "p%u\n", i), 0);
                assert_int_equal(check_fix(c, "f%u", i % 10), 0);
        }
        assert_int_equal(check_finish(c, CHECK_OK, "fine"), 0);
        assert_int_equal(strlen(c->summary), 2890 + 2 * 1000 + 2 * 999); /* digits, "p" and " ", "; " */
        assert_true(strneq(c->summary, "p0 ; p1 ; ", 10));
        assert_null(strchr(c->summary, '\n'));
        assert_string_equal(c->fix, "f0\nf1\nf2\nf3\nf4\nf5\nf6\nf7\nf8\nf9");
        assert_int_equal(l.n_checks, 2);
        (void) state;
}

static void test_check_builder(void **state) {
        _cleanup_(check_list_done) CheckList l = {};
        Check *c;

        c = check_list_begin(&l, "x");
        assert_non_null(c);
        assert_int_equal(check_problem(c, CHECK_WARN, "a %s", "one\nline"), 0);
        assert_int_equal(check_problem(c, CHECK_FAIL, "b"), 0);
        assert_int_equal(check_fix(c, "cmd 1"), 0);
        assert_int_equal(check_fix(c, "cmd 2"), 0);
        assert_int_equal(check_fix(c, "cmd 1"), 0); /* given once */
        assert_int_equal(check_finish(c, CHECK_OK, "fine"), 0);
        assert_int_equal(c->status, CHECK_FAIL);
        assert_string_equal(c->summary, "a one line; b");
        assert_string_equal(c->fix, "cmd 1\ncmd 2");

        c = check_list_begin(&l, "y");
        assert_int_equal(check_fix(c, "unused"), 0);
        assert_int_equal(check_finish(c, CHECK_SKIP, "n/a %d", 1), 0);
        assert_int_equal(c->status, CHECK_SKIP);
        assert_null(c->fix);
        assert_non_null(check_list_add(&l, "z", CHECK_WARN, "w"));
        assert_int_equal(checks_result(l.checks, l.n_checks), CHECK_FAIL);
        assert_int_equal(checks_result(l.checks + 1, 1), CHECK_OK);
        assert_int_equal(checks_result(l.checks + 1, 2), CHECK_WARN);
        assert_string_equal(check_status_to_string(CHECK_SKIP), "skip");
        assert_int_equal(check_status_from_string("warn"), CHECK_WARN);
        assert_true(check_status_from_string("bad") < 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resource),      cmocka_unit_test(test_speed_efivar),
                cmocka_unit_test(test_interfaces),    cmocka_unit_test(test_pins),
                cmocka_unit_test(test_nic_names),     cmocka_unit_test(test_unit_list),
                cmocka_unit_test(test_pve),           cmocka_unit_test(test_tables),
                cmocka_unit_test(test_check_builder), cmocka_unit_test(test_check_fix_steps),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
