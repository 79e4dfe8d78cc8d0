/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>

#include "install.h"
#include "modprobe-config.h"
#include "util.h"

static void parse(ModprobeConfig *c, const char *text) {
        assert_int_equal(modprobe_config_parse(c, "/etc/modprobe.d/t.conf", text), 0);
}

static void test_seed(void **state) {
        _cleanup_(modprobe_config_done) ModprobeConfig c = {};
        const char *v = NULL;
        const ModprobeEntry *e;

        parse(&c, "options vfio-pci ids=1002:687f,1002:aaf8\nsoftdep vfio-pci pre: vendor-reset\n");
        assert_int_equal(c.n_entries, 2);
        assert_int_equal(c.n_invalid, 0);
        e = modprobe_find_option(&c, "vfio_pci", "ids", &v);
        assert_non_null(e);
        assert_int_equal(e->line, 1);
        assert_string_equal(v, "1002:687f,1002:aaf8");
        assert_true(modprobe_has_softdep_pre(&c, "vfio-pci", "vendor_reset"));
        assert_true(modprobe_has_softdep_pre(&c, "vfio_pci", "vendor-reset"));
        assert_false(modprobe_has_softdep_pre(&c, "amdgpu", "vfio_pci"));
}

static void test_comments_continuations(void **state) {
        _cleanup_(modprobe_config_done) ModprobeConfig c = {};
        const ModprobeEntry *e;

        parse(&c,
              "# comment\n"
              "   # indented comment\n"
              "\n"
              "softdep amdgpu \\\n"
              "   pre: vfio-pci \\\n"
              "   post: foo\n"
              "#softdep snd_hda_intel pre: vfio-pci\n"
              "blacklist nouveau\n"
              "options snd-hda-intel enable=1 # not a comment for kmod\r\n");
        assert_int_equal(c.n_entries, 3);
        e = modprobe_find_softdep(&c, "amdgpu");
        assert_non_null(e);
        assert_int_equal(e->line, 4);
        assert_string_equal(e->pre[0], "vfio_pci");
        assert_null(e->pre[1]);
        assert_string_equal(e->post[0], "foo");
        assert_null(modprobe_find_softdep(&c, "snd_hda_intel"));
        assert_non_null(modprobe_find_blacklist(&c, "nouveau"));
        e = &c.entries[2];
        assert_int_equal(e->command, MODPROBE_OPTIONS);
        assert_string_equal(e->module, "snd_hda_intel");
        assert_int_equal(strv_length(e->args), 7); /* "#" is an option word here */
        assert_string_equal(e->args[0], "enable=1");
}

static void test_first_softdep_wins(void **state) {
        _cleanup_(modprobe_config_done) ModprobeConfig c = {};

        /* kmod uses only the first softdep line matching a module. */
        parse(&c, "softdep amdgpu pre: drm_buddy\nsoftdep amdgpu pre: vfio-pci\n");
        assert_false(modprobe_has_softdep_pre(&c, "amdgpu", "vfio_pci"));
        modprobe_config_done(&c);
        /* The name is a glob. */
        parse(&c, "softdep amd* pre: vfio-pci\n");
        assert_true(modprobe_has_softdep_pre(&c, "amdgpu", "vfio-pci"));
}

static void test_install_alias_quotes(void **state) {
        _cleanup_(modprobe_config_done) ModprobeConfig c = {};
        const ModprobeEntry *e;
        const char *v;

        parse(&c,
              "install amdgpu /sbin/modprobe vfio-pci; /sbin/modprobe --ignore-install amdgpu\n"
              "alias pci:v00001002d0000687Fsv*sd*bc*sc*i* vfio-pci\n"
              "options vfio-pci ids=\"1002:687f,1002:aaf8\" disable_vga=1\n"
              "options vfio_pci ids=10de:1b80\n");
        e = modprobe_find_install(&c, "amdgpu");
        assert_non_null(e);
        assert_string_equal(e->args[0], "/sbin/modprobe vfio-pci; /sbin/modprobe --ignore-install amdgpu");
        assert_int_equal(c.entries[1].command, MODPROBE_ALIAS);
        assert_string_equal(c.entries[1].args[0], "vfio_pci");
        /* The last value set wins, as for the kernel. */
        e = modprobe_find_option(&c, "vfio-pci", "ids", &v);
        assert_int_equal(e->line, 4);
        assert_string_equal(v, "10de:1b80");
        e = &c.entries[2];
        assert_string_equal(e->args[0], "ids=\"1002:687f,1002:aaf8\"");
        assert_string_equal(e->args[1], "disable_vga=1");
}

static void test_invalid(void **state) {
        _cleanup_(modprobe_config_done) ModprobeConfig c = {};

        parse(&c,
              "frobnicate x\nsoftdep amdgpu vfio-pci\nalias a\nblacklist\ninstall x\noptions\n"
              "softdep x pre: a \\");
        assert_int_equal(c.n_invalid, 6);
        assert_string_equal(c.first_invalid, "/etc/modprobe.d/t.conf:1");
        /* A continuation at the end of the file still ends the command. */
        assert_int_equal(c.n_entries, 1);
        assert_true(modprobe_has_softdep_pre(&c, "x", "a"));
}

static void test_vfio_ids(void **state) {
        uint32_t ids[4][2];

        assert_int_equal(vfio_ids_parse("1002:687f,1002:aaf8", ids, 4), 2);
        assert_int_equal(ids[0][0], 0x1002);
        assert_int_equal(ids[0][1], 0x687f);
        assert_int_equal(ids[1][1], 0xaaf8);
        assert_int_equal(vfio_ids_parse("\"10de:1b80:ffffffff:ffffffff:00030000:ffffffff\"", ids, 4), 1);
        assert_int_equal(ids[0][1], 0x1b80);
        assert_int_equal(vfio_ids_parse("garbage,,1:,:2,12345:1,1002:687f", ids, 4), 1);
        assert_int_equal(vfio_ids_parse("1:1,2:2,3:3", ids, 2), 2);
}

static void test_names(void **state) {
        _cleanup_free_ char *n = modprobe_normalize("vfio-pci");

        assert_string_equal(n, "vfio_pci");
        assert_true(modprobe_name_eq("snd-hda-intel", "snd_hda_intel"));
        assert_false(modprobe_name_eq("snd_hda", "snd_hda_intel"));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void put(const char *root, const char *path, const char *text) {
        _cleanup_free_ char *full = path_join(root, path);

        assert_non_null(full);
        assert_int_equal(install_mkdir_parents(full), 0);
        assert_int_equal(install_write_atomic(full, text, 0644), 0);
}

/* Sorted by file name across the folders; a name in an earlier folder hides it in later ones. */
static void test_load_order(void **state) {
        _cleanup_(modprobe_config_done) ModprobeConfig c = {};
        char root[] = "/tmp/test-modprobe-XXXXXX";
        static const char *const expect[][2] = {
                { "/usr/local/lib/modprobe.d/a.conf", "a_local" },
                { "/etc/modprobe.d/b.conf", "b_etc" },
                { "/run/modprobe.d/c.conf", "c_run" },
                { "/lib/modprobe.d/d.conf", "d_lib" },
                { "/lib/modprobe.d/d.conf", "d_lib2" },
        };

        assert_non_null(mkdtemp(root));
        put(root, "/lib/modprobe.d/a.conf", "blacklist a_lib\n");
        put(root, "/usr/lib/modprobe.d/a.conf", "blacklist a_usr\n");
        put(root, "/usr/local/lib/modprobe.d/a.conf", "blacklist a_local\n");
        put(root, "/etc/modprobe.d/b.conf", "blacklist b_etc\n");
        put(root, "/run/modprobe.d/b.conf", "blacklist b_run\n");
        put(root, "/lib/modprobe.d/b.conf", "blacklist b_lib\n");
        put(root, "/run/modprobe.d/c.conf", "blacklist c_run\n");
        put(root, "/lib/modprobe.d/d.conf", "blacklist d_lib\nblacklist d_lib2\n");
        put(root, "/etc/modprobe.d/.e.conf", "blacklist hidden\n");
        put(root, "/etc/modprobe.d/e.txt", "blacklist not_conf\n");

        assert_int_equal(modprobe_config_load(&c, root), 0);
        assert_int_equal(c.n_entries, ELEMENTSOF(expect));
        for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
                assert_string_equal(c.entries[i].file, expect[i][0]);
                assert_string_equal(c.entries[i].module, expect[i][1]);
        }
        (void) nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seed),
                cmocka_unit_test(test_comments_continuations),
                cmocka_unit_test(test_first_softdep_wins),
                cmocka_unit_test(test_install_alias_quotes),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_vfio_ids),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_load_order),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
