/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the guest side of the core library: the arithmetic of bench, the tables, the unit file
 * and os-release parsers, passwd/group, Ollama's version logic and request body. */
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "guest-bench.h"
#include "guest-os.h"
#include "guest-service.h"
#include "guest-tables.h"
#include "macro.h"
#include "ollama.h"

static void test_stats(void **state) {
        const double odd[] = { 64, 80, 128, 80, 40 };
        const double even[] = { 4, 1, 3, 2 };
        BenchStats s;

        assert_int_equal(bench_stats(odd, 5, &s), 0);
        assert_true(s.median == 80.0);
        assert_true(s.min == 40.0);
        assert_true(s.max == 128.0);
        assert_true(s.q1 == 64.0);
        assert_true(s.q3 == 80.0);

        assert_int_equal(bench_stats(even, 4, &s), 0);
        assert_true(s.median == 2.5);
        assert_true(s.q1 == 1.75);
        assert_true(s.q3 == 3.25);

        assert_int_equal(bench_stats(odd, 0, &s), -EINVAL);
        const double bad[] = { 1, NAN };
        assert_int_equal(bench_stats(bad, 2, &s), -EINVAL);
}

static void test_rate_and_bound(void **state) {
        double r;

        /* 128 tokens in 1.6 s */
        assert_int_equal(bench_rate(128, 1600000000, &r), 0);
        assert_true(r == 80.0);
        assert_int_equal(bench_rate(128, 0, &r), -EDOM);

        /* Vega 56: 409.6 GB/s over 2.048 GB per token = 200 tokens/s */
        assert_int_equal(bench_decode_bound(409.6, 2048000000, &r), 0);
        assert_true(r > 200.0 - 1e-9 && r < 200.0 + 1e-9);
        assert_int_equal(bench_decode_bound(409.6, 0, &r), -EDOM);
        assert_int_equal(bench_decode_bound(0, 1, &r), -EDOM);
}

static void test_tables(void **state) {
        const GpuBandwidth *b;
        const AmdGfxArch *a;

        b = gpu_bandwidth_lookup(0x1002, 0x687f, 0xc3);
        assert_non_null(b);
        assert_true(b->gb_per_s == 409.6);
        b = gpu_bandwidth_lookup(0x1002, 0x687f, 0xc1);
        assert_non_null(b);
        assert_true(b->gb_per_s == 483.8);
        b = gpu_bandwidth_lookup(0x1002, 0x687f, -1); /* revision unknown: the Vega 56's */
        assert_non_null(b);
        assert_true(b->gb_per_s == 409.6);
        b = gpu_bandwidth_lookup(0x10de, 0x2684, 0xa1);
        assert_non_null(b);
        assert_true(b->gb_per_s == 1008.0);
        assert_null(gpu_bandwidth_lookup(0x1234, 0x1111, 2));

        a = amd_gfx_arch_lookup(0x687f);
        assert_non_null(a);
        assert_string_equal(a->gfx, "gfx900");
        assert_non_null(rocm_dropped_lookup("gfx900"));
        assert_non_null(rocm_dropped_lookup("gfx906"));
        assert_null(rocm_dropped_lookup("gfx1030"));
        a = amd_gfx_arch_lookup(0x73bf);
        assert_non_null(a);
        assert_null(rocm_dropped_lookup(a->gfx));

        assert_true(pci_vendor_is_emulated_display(0x1234));
        assert_true(pci_vendor_is_emulated_display(0x1af4));
        assert_false(pci_vendor_is_emulated_display(0x1002));
        assert_true(gpu_driver_is_known("amdgpu"));
        assert_false(gpu_driver_is_known("vfio-pci"));
        assert_false(gpu_driver_is_known(NULL));
}

static void test_environment_split(void **state) {
        char **l = NULL;

        assert_int_equal(unit_environment_split("OLLAMA_VULKAN=1", &l), 0);
        assert_string_equal(l[0], "OLLAMA_VULKAN=1");
        assert_null(l[1]);
        strv_free(l);

        assert_int_equal(
                unit_environment_split("\"A=b c\" 'D=e f' G=h\\ i NOEQUALS \"J=\\\"k\\\"\"", &l),
                0);
        assert_string_equal(l[0], "A=b c");
        assert_string_equal(l[1], "D=e f");
        assert_string_equal(l[2], "G=h i");
        assert_string_equal(l[3], "J=\"k\"");
        assert_null(l[4]);
        strv_free(l);

        assert_int_equal(unit_environment_split("\"A=unbalanced", &l), -EINVAL);
}

static char *make_tree(void) {
        char *d = strdup("/tmp/test-guest-XXXXXX");
        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static void write_file(const char *root, const char *rel, const char *text) {
        char *p, *slash;
        FILE *f;

        assert_true(asprintf(&p, "%s%s", root, rel) > 0);
        for (slash = strchr(p + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = 0;
                (void) mkdir(p, 0755);
                *slash = '/';
        }
        f = fopen(p, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        free(p);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void remove_tree(char *d) {
        nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(d);
}

static void test_service_env(void **state) {
        char *root = make_tree();
        ServiceEnv e = {};

        assert_int_equal(ollama_service_env(root, &e), -ENOENT);

        write_file(root, "/lib/systemd/system/ollama.service", "[Service]\nEnvironment=FROM_LIB=1\n");
        write_file(
                root,
                "/etc/systemd/system/ollama.service",
                "[Unit]\nEnvironment=NOT_SERVICE=1\n[Service]\nEnvironment=\"PATH=/usr/bin\" "
                "OLLAMA_VULKAN=0\n"
                "EnvironmentFile=-/etc/default/ollama\n");
        /* Drop-ins apply by name across folders: 10 from /lib, 20 from /etc; a 20 in /lib is hidden. */
        write_file(root, "/lib/systemd/system/ollama.service.d/10-a.conf", "[Service]\nEnvironment=A=lib\n");
        write_file(
                root,
                "/lib/systemd/system/ollama.service.d/20-b.conf",
                "[Service]\nEnvironment=HIDDEN=1\n");
        write_file(
                root,
                "/etc/systemd/system/ollama.service.d/20-b.conf",
                "# the seed's fix\n[Service]\nEnvironment=OLLAMA_VULKAN=1\n");
        write_file(
                root,
                "/etc/systemd/system/ollama.service.d/notes.txt",
                "[Service]\nEnvironment=IGNORED=1\n");

        assert_int_equal(ollama_service_env(root, &e), 0);
        assert_string_equal(service_env_get(&e, "OLLAMA_VULKAN"), "1");
        assert_string_equal(service_env_get(&e, "PATH"), "/usr/bin");
        assert_string_equal(service_env_get(&e, "A"), "lib");
        assert_null(service_env_get(&e, "FROM_LIB")); /* the /etc unit hides the /lib one */
        assert_null(service_env_get(&e, "NOT_SERVICE"));
        assert_null(service_env_get(&e, "HIDDEN"));
        assert_null(service_env_get(&e, "IGNORED"));
        assert_string_equal(e.env_files[0], "-/etc/default/ollama");
        service_env_done(&e);

        /* "Environment=" alone empties the list. */
        write_file(root, "/etc/systemd/system/ollama.service.d/30-reset.conf", "[Service]\nEnvironment=\n");
        assert_int_equal(ollama_service_env(root, &e), 0);
        assert_null(service_env_get(&e, "OLLAMA_VULKAN"));
        service_env_done(&e);

        remove_tree(root);
}

static void test_os_release_and_hint(void **state) {
        char *root = make_tree(), *hint = NULL, *v = NULL;
        OsRelease o = {};

        assert_int_equal(os_release_unquote("\"Ubuntu 24.04 LTS\"", &v), 0);
        assert_string_equal(v, "Ubuntu 24.04 LTS");
        free(v);
        assert_int_equal(os_release_unquote("'it''s' # comment", &v), 0);
        assert_string_equal(v, "its");
        free(v);

        write_file(root, "/usr/lib/os-release", "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n");
        assert_int_equal(os_release_read(root, &o), 0);
        assert_string_equal(o.id, "ubuntu");
        assert_string_equal(o.version_id, "24.04");
        assert_int_equal(gpu_driver_package_hint(&o, 0x1002, &hint), 0);
        assert_non_null(strstr(hint, "linux-modules-extra-$(uname -r)"));
        assert_non_null(strstr(hint, "linux-firmware"));
        free(hint);
        os_release_done(&o);

        write_file(root, "/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
        assert_int_equal(os_release_read(root, &o), 0);
        assert_string_equal(o.id, "debian");
        assert_int_equal(gpu_driver_package_hint(&o, 0x1002, &hint), 0);
        assert_non_null(strstr(hint, "firmware-amd-graphics"));
        free(hint);
        assert_int_equal(gpu_driver_package_hint(&o, 0x10de, &hint), 0);
        assert_non_null(strstr(hint, "nvidia-driver"));
        free(hint);
        os_release_done(&o);

        assert_int_equal(gpu_driver_package_hint(NULL, 0x1002, &hint), 0);
        free(hint);
        remove_tree(root);
}

static void test_users(void **state) {
        char *root = make_tree(), *name = NULL;
        GuestUser u = {};

        write_file(
                root,
                "/etc/passwd",
                "root:x:0:0:root:/root:/bin/bash\nbroken "
                "line\nollama:x:999:988::/usr/share/ollama:/bin/false\n");
        write_file(
                root,
                "/etc/group",
                "root:x:0:\nvideo:x:44:ubuntu,ollama\nrender:x:993:ubuntu\nollama:x:988:\n");

        assert_int_equal(guest_user_lookup(root, "ollama", 0, &u), 0);
        assert_int_equal(u.uid, 999);
        assert_true(guest_user_in_group(&u, 988));
        assert_true(guest_user_in_group(&u, 44));
        assert_false(guest_user_in_group(&u, 993));
        /* crw-rw---- root:render: not for ollama, which is not in render */
        assert_false(guest_user_can_open(&u, 0, 993, 0660));
        assert_true(guest_user_can_open(&u, 0, 44, 0660));
        assert_true(guest_user_can_open(&u, 0, 993, 0666));
        guest_user_done(&u);

        assert_int_equal(guest_user_lookup(root, NULL, 0, &u), 0);
        assert_string_equal(u.name, "root");
        assert_true(guest_user_can_open(&u, 0, 993, 0600));
        guest_user_done(&u);

        assert_int_equal(guest_user_lookup(root, "nobody", 0, &u), -ENOENT);
        assert_int_equal(guest_group_name(root, 993, &name), 0);
        assert_string_equal(name, "render");
        free(name);
        assert_int_equal(guest_group_name(root, 12345, &name), -ENOENT);
        remove_tree(root);
}

static void test_ollama_versions(void **state) {
        unsigned a[3], b[3];

        assert_int_equal(ollama_version_parse("0.18.2", a), 0);
        assert_int_equal(ollama_version_parse("v0.30.0-rc1", b), 0);
        assert_true(ollama_version_compare(a, b) < 0);
        assert_int_equal(ollama_version_parse("0.5", a), 0);
        assert_int_equal(a[1], 5);
        assert_int_equal(a[2], 0);
        assert_int_equal(ollama_version_parse("dev", a), -EINVAL);

        assert_int_equal(ollama_vulkan_state("0.18.2", NULL), OLLAMA_VULKAN_OFF);
        assert_int_equal(ollama_vulkan_state("0.18.2", "1"), OLLAMA_VULKAN_ON_BY_ENV);
        assert_int_equal(ollama_vulkan_state("0.18.2", "true"), OLLAMA_VULKAN_ON_BY_ENV);
        assert_int_equal(ollama_vulkan_state("0.18.2", "0"), OLLAMA_VULKAN_OFF_BY_ENV);
        assert_int_equal(ollama_vulkan_state(NULL, NULL), OLLAMA_VULKAN_OFF);
        assert_int_equal(
                ollama_vulkan_state(OLLAMA_VULKAN_DEFAULT_SINCE, NULL),
                OLLAMA_VULKAN_ON_BY_DEFAULT);
        assert_int_equal(ollama_vulkan_state("1.0.0", "0"), OLLAMA_VULKAN_OFF_BY_ENV);

        assert_true(ollama_model_name_matches("llama3.2:latest", "llama3.2"));
        assert_true(ollama_model_name_matches("llama3.2", "llama3.2:latest"));
        assert_false(ollama_model_name_matches("llama3.2:1b", "llama3.2"));
        assert_false(ollama_model_name_matches("llama3.20:latest", "llama3.2"));
}

static void test_generate_body(void **state) {
        OllamaGenerateRequest req = {
                .model = "we\"ird\nmodel",
                .prompt = "hello",
                .seed = 42,
                .num_predict = 128,
                .temperature = 0,
        };
        json_object *o, *v, *opts;
        char *body = NULL;

        assert_int_equal(ollama_generate_body(&req, &body), 0);
        o = json_tokener_parse(body);
        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "model", &v));
        assert_string_equal(json_object_get_string(v), "we\"ird\nmodel");
        assert_true(json_object_object_get_ex(o, "stream", &v));
        assert_false(json_object_get_boolean(v));
        assert_true(json_object_object_get_ex(o, "options", &opts));
        assert_true(json_object_object_get_ex(opts, "seed", &v));
        assert_int_equal(json_object_get_int64(v), 42);
        assert_true(json_object_object_get_ex(opts, "num_predict", &v));
        assert_int_equal(json_object_get_int64(v), 128);
        assert_true(json_object_object_get_ex(opts, "temperature", &v));
        assert_true(json_object_get_double(v) == 0.0);
        json_object_put(o);
        free(body);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stats),         cmocka_unit_test(test_rate_and_bound),
                cmocka_unit_test(test_tables),        cmocka_unit_test(test_environment_split),
                cmocka_unit_test(test_service_env),   cmocka_unit_test(test_os_release_and_hint),
                cmocka_unit_test(test_users),         cmocka_unit_test(test_ollama_versions),
                cmocka_unit_test(test_generate_body),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
