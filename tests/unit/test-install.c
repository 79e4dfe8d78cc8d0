/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sha256.h"
#include "install.h"
#include "util.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void write_under(const char *root, const char *path, const char *content) {
        _cleanup_free_ char *full = path_under_root(root, path);

        assert_non_null(full);
        assert_int_equal(install_mkdir_parents(full), 0);
        assert_int_equal(install_write_atomic(full, content, 0644), 0);
}

/* A path listed twice in the manifest keeps the place of its first line and the value of its last (as
 * setting entries one by one did), whatever lies between. */
static void test_manifest_duplicates(void **state) {
        char dir[] = "/tmp/test-install-XXXXXX", ha[SHA256_HEX_SIZE], hold[SHA256_HEX_SIZE],
             hb[SHA256_HEX_SIZE];
        _cleanup_free_ char *manifest = NULL, *full_l = NULL, *full_a = NULL, *full_m = NULL;
        InstallResult *res = NULL;
        size_t n = 0;

        assert_non_null(mkdtemp(dir));
        sha256_hex("new\n", 4, ha);
        sha256_hex("old\n", 4, hold);
        sha256_hex("b\n", 2, hb);
        assert_true(
                asprintf(
                        &manifest,
                        "file %s /etc/a\n"
                        "link /old-target /etc/l\n"
                        "file %s /etc/b\n"
                        "dir /etc/d\n"
                        "file %s /etc/a\n"
                        "link /new-target /etc/l\n"
                        "dir /etc/d\n",
                        hold,
                        hb,
                        ha) > 0);
        write_under(dir, INSTALL_MANIFEST_PATH, manifest);
        write_under(dir, "/etc/a", "new\n"); /* the last hash: egpuctl's own, so removed */
        full_l = path_under_root(dir, "/etc/l");
        assert_non_null(full_l);
        assert_int_equal(symlink("/new-target", full_l), 0); /* the last target: removed */
        /* /etc/b is gone: only forgotten. */

        /* In the order of the manifest's first lines. */
        assert_int_equal(install_apply(dir, NULL, 0, true, true, &res, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(res[0].path, "/etc/a");
        assert_int_equal(res[0].action, INSTALL_REMOVE);
        assert_string_equal(res[1].path, "/etc/l");
        assert_int_equal(res[1].kind, INSTALL_LINK);
        assert_int_equal(res[1].action, INSTALL_REMOVE);
        assert_string_equal(res[2].path, "/etc/b");
        assert_int_equal(res[2].action, INSTALL_FORGET);
        install_results_free(res, n);

        assert_int_equal(install_apply(dir, NULL, 0, true, false, &res, &n), 0);
        assert_int_equal(n, 3);
        install_results_free(res, n);
        full_a = path_under_root(dir, "/etc/a");
        full_m = path_under_root(dir, INSTALL_MANIFEST_PATH);
        assert_non_null(full_a);
        assert_non_null(full_m);
        assert_int_equal(access(full_a, F_OK), -1);
        assert_int_equal(access(full_l, F_OK), -1);
        assert_int_equal(access(full_m, F_OK), -1);

        assert_int_equal(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_manifest_duplicates),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
