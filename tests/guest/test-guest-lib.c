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
        const RocmDropped *d;

        b = gpu_bandwidth_lookup(0x1002, 0x687f, 0xc3);
        assert_non_null(b);
        assert_true(b->gb_per_s_max == 409.6);
        b = gpu_bandwidth_lookup(0x1002, 0x687f, 0xc1);
        assert_non_null(b);
        assert_true(b->gb_per_s_max == 483.8);
        /* revision unknown: the range, whose top is a bound for both boards */
        b = gpu_bandwidth_lookup(0x1002, 0x687f, -1);
        assert_non_null(b);
        assert_true(b->gb_per_s_min == 409.6 && b->gb_per_s_max == 483.8);
        /* 0x7550 is the 9070 GRE (192-bit, 432 GB/s) too, 0x7480 the 7600S (256 GB/s) */
        b = gpu_bandwidth_lookup(0x1002, 0x7550, 0xc0);
        assert_non_null(b);
        assert_true(b->gb_per_s_min == 432 && b->gb_per_s_max == 640);
        b = gpu_bandwidth_lookup(0x1002, 0x7480, -1);
        assert_true(b->gb_per_s_min == 256 && b->gb_per_s_max == 288);
        assert_null(gpu_bandwidth_lookup(0x10de, 0x2684, 0xa1)); /* no source for the RTX 4090's row */
        assert_null(gpu_bandwidth_lookup(0x1234, 0x1111, 2));

        a = amd_gfx_arch_lookup(0x687f);
        assert_non_null(a);
        assert_string_equal(a->gfx, "gfx900");
        a = amd_gfx_arch_lookup(0x686f);
        assert_non_null(a);
        assert_string_equal(a->gfx, "gfx900");
        a = amd_gfx_arch_lookup(0x66a4);
        assert_non_null(a);
        assert_string_equal(a->gfx, "gfx906");
        a = amd_gfx_arch_lookup(0x730f);
        assert_non_null(a);
        assert_string_equal(a->chip, "Fiji");
        assert_string_equal(a->gfx, "gfx803");

        /* Ollama's own build dropped gfx900 and gfx906 in 0.12.4 (PR 12245), never had gfx803 */
        d = rocm_dropped_lookup("gfx900");
        assert_non_null(d);
        assert_true(rocm_dropped_in(d, "0.12.4"));
        assert_true(rocm_dropped_in(d, "0.18.2"));
        assert_false(rocm_dropped_in(d, "0.12.3"));
        assert_true(rocm_dropped_in(d, "0.12.4-rc0")); /* the change is first in v0.12.4-rc0 */
        assert_true(rocm_dropped_in(d, NULL));         /* unknown: taken for a current one */
        assert_true(rocm_dropped_in(rocm_dropped_lookup("gfx803"), "0.1.30"));
        assert_non_null(rocm_dropped_lookup("gfx906"));
        assert_null(rocm_dropped_lookup("gfx1030"));
        a = amd_gfx_arch_lookup(0x73bf);
        assert_non_null(a);
        assert_null(rocm_dropped_lookup(a->gfx));

        assert_true(pci_vendor_is_emulated_display(0x1234));
        assert_true(pci_vendor_is_emulated_display(0x1af4));
        assert_false(pci_vendor_is_emulated_display(0x1002));
        assert_true(gpu_driver_is_known("amdgpu"));
        assert_true(gpu_driver_is_known("xe"));
        assert_false(gpu_driver_is_known("vfio-pci"));
        assert_false(gpu_driver_is_known(NULL));
        assert_string_equal(gpu_vendor_default_driver(0x1002), "amdgpu");
        assert_string_equal(gpu_vendor_default_driver(0x8086), "i915");
        assert_null(gpu_vendor_default_driver(0x1234));

        assert_int_equal(ggml_type_lookup("Q4_K")->bytes, 144);
        assert_int_equal(ggml_type_lookup("Q4_K")->block, 256);
        assert_null(ggml_type_lookup("Q9_Z"));
}

/* Bytes per token: the weights; for a mixture of experts less the share of the experts not in use. */
static void test_bytes_per_token(void **state) {
        OllamaTensor t[] = {
                { .name = (char *) "blk.0.attn_q.weight", .type = (char *) "F16", .elements = 100000 },
                { .name = (char *) "blk.0.ffn_gate_exps.weight",
                  .type = (char *) "Q8_0",
                  .elements = 256000 },
                { .name = (char *) "blk.0.ffn_gate_shexp.weight",
                  .type = (char *) "Q8_0",
                  .elements = 3200 },
        };
        OllamaShow dense = {},
                   moe = { .expert_count = 8, .expert_used_count = 2, .tensors = t, .n_tensors = 3 };
        uint64_t r;

        assert_int_equal(bench_bytes_per_token(2000000000, NULL, &r), 0);
        assert_true(r == 2000000000);
        assert_int_equal(bench_bytes_per_token(2000000000, &dense, &r), 0);
        assert_true(r == 2000000000);
        /* experts: 256000 Q8_0 elements = 8000 blocks of 34 bytes = 272000; 6 of 8 unused: 204000 */
        assert_int_equal(bench_bytes_per_token(500000, &moe, &r), 0);
        assert_true(r == 296000);
        moe.tensors = NULL;
        assert_int_equal(bench_bytes_per_token(500000, &moe, &r), -ENODATA);
        moe.tensors = t;
        t[1].type = (char *) "NEW_TYPE";
        assert_int_equal(bench_bytes_per_token(500000, &moe, &r), -EOPNOTSUPP);
        t[1].type = (char *) "Q8_0";
        assert_int_equal(bench_bytes_per_token(100000, &moe, &r), -EINVAL); /* experts above the weights */
}

/* Never a share above 1: a measured rate above the bound means the bound does not hold. */
static void test_bound(void **state) {
        BenchBound b;

        bench_bound(409.6, 2048000000, true, 80, &b);
        assert_int_equal(b.state, BENCH_BOUND_HOLDS);
        assert_true(fabs(b.tokens_per_s - 200.0) < 1e-9 && fabs(b.share - 0.4) < 1e-12);
        bench_bound(409.6, 2048000000, true, 250, &b);
        assert_int_equal(b.state, BENCH_BOUND_EXCEEDED);
        assert_true(b.share == 0);
        assert_non_null(b.why);
        bench_bound(409.6, 2048000000, false, 10, &b);
        assert_int_equal(b.state, BENCH_BOUND_NONE);
        assert_non_null(strstr(b.why, "partly"));
        bench_bound(0, 2048000000, true, 10, &b);
        assert_int_equal(b.state, BENCH_BOUND_NONE);
        bench_bound(409.6, 0, true, 10, &b);
        assert_int_equal(b.state, BENCH_BOUND_NONE);
}

/* Each run's prompt starts with its own number, so no two in a row share more than a first token. */
static void test_prompts(void **state) {
        char *a = NULL, *b = NULL;

        assert_int_equal(bench_prompt(9, &a), 0);
        assert_int_equal(bench_prompt(10, &b), 0);
        assert_true(strneq(a, "9. ", 3));
        assert_true(strneq(b, "10. ", 4));
        assert_string_equal(strchr(a, ' '), strchr(b, ' '));
        assert_true(strlen(a) > 1000);
        free(a);
        free(b);
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
        OllamaVersion a, b;

        assert_int_equal(ollama_version_parse("0.18.2", &a), 0);
        assert_int_equal(ollama_version_parse("v0.30.0-rc1", &b), 0);
        assert_string_equal(b.prerelease, "rc1");
        assert_true(ollama_version_compare(&a, &b) < 0);
        assert_int_equal(ollama_version_parse("0.5", &a), 0);
        assert_int_equal(a.minor, 5);
        assert_int_equal(a.patch, 0);
        assert_int_equal(ollama_version_parse("dev", &a), -EINVAL);
        assert_int_equal(ollama_version_parse("0.30.0-", &a), -EINVAL);
        assert_int_equal(ollama_version_parse("0.30.0 junk", &a), -EINVAL);
        assert_int_equal(ollama_version_parse("0.30.0+build.5", &a), 0);

        /* a pre-release comes before its release: 0.30.0-rc5 is not 0.30.0 */
        assert_int_equal(ollama_version_at_least("0.30.0-rc5", "0.30.0"), 0);
        assert_int_equal(ollama_version_at_least("0.30.0", "0.30.0-rc24"), 1);
        /* Ollama's rc tags in the order they were made: rc3 before rc24 (plain semver would say after) */
        assert_int_equal(ollama_version_at_least("0.30.0-rc3", "0.30.0-rc24"), 0);
        assert_int_equal(ollama_version_at_least("0.30.0-rc23", "0.30.0-rc24"), 0);
        assert_int_equal(ollama_version_at_least("0.30.0-rc24", "0.30.0-rc24"), 1);
        assert_int_equal(ollama_version_at_least("0.30.0-rc31", "0.30.0-rc24"), 1);
        assert_int_equal(ollama_version_at_least("0.30.1-rc0", "0.30.0"), 1);
        /* semver's own rules where no number follows letters */
        assert_int_equal(ollama_version_parse("1.0.0-alpha.1", &a), 0);
        assert_int_equal(ollama_version_parse("1.0.0-alpha.beta", &b), 0);
        assert_true(ollama_version_compare(&a, &b) < 0);
        assert_int_equal(ollama_version_parse("1.0.0-alpha", &b), 0);
        assert_true(ollama_version_compare(&b, &a) < 0);

        /* OLLAMA_VULKAN as envconfig.BoolWithDefault reads it */
        assert_true(ollama_env_bool("1", false));
        assert_true(ollama_env_bool(" 1 ", false));
        assert_true(ollama_env_bool("\"1\"", false));
        assert_true(ollama_env_bool("'true'", false));
        assert_true(ollama_env_bool("yes", false)); /* not a Go boolean: true */
        assert_true(ollama_env_bool("on", false));
        assert_false(ollama_env_bool("0", true));
        assert_false(ollama_env_bool(" false ", true));
        assert_false(ollama_env_bool("\"F\"", true));
        assert_true(ollama_env_bool("FaLsE", false)); /* ParseBool knows only three spellings */
        assert_true(ollama_env_bool("", true));
        assert_false(ollama_env_bool("", false));
        assert_false(ollama_env_bool("  \"\"  ", false)); /* empty once trimmed: the default */
        assert_false(ollama_env_bool(
                "\xc2\xa0"
                "0"
                "\xe3\x80\x80",
                true)); /* Unicode spaces trimmed too */
        assert_false(ollama_env_bool(NULL, false));

        assert_int_equal(ollama_vulkan_state("0.18.2", NULL), OLLAMA_VULKAN_OFF);
        assert_int_equal(ollama_vulkan_state("0.18.2", "1"), OLLAMA_VULKAN_ON_BY_ENV);
        assert_int_equal(ollama_vulkan_state("0.18.2", "true"), OLLAMA_VULKAN_ON_BY_ENV);
        assert_int_equal(ollama_vulkan_state("0.18.2", "yes"), OLLAMA_VULKAN_ON_BY_ENV);
        assert_int_equal(ollama_vulkan_state("0.18.2", " 1 "), OLLAMA_VULKAN_ON_BY_ENV);
        assert_int_equal(ollama_vulkan_state("0.18.2", "0"), OLLAMA_VULKAN_OFF_BY_ENV);
        assert_int_equal(ollama_vulkan_state("0.18.2", "  "), OLLAMA_VULKAN_OFF);
        assert_int_equal(ollama_vulkan_state(NULL, NULL), OLLAMA_VULKAN_OFF);
        assert_int_equal(ollama_vulkan_state("0.12.10", "1"), OLLAMA_VULKAN_UNAVAILABLE);
        assert_int_equal(ollama_vulkan_state("0.12.11-rc0", "1"), OLLAMA_VULKAN_ON_BY_ENV);
        assert_int_equal(ollama_vulkan_state("0.30.0-rc0", NULL), OLLAMA_VULKAN_OFF);
        assert_int_equal(ollama_vulkan_state("0.30.0-rc23", NULL), OLLAMA_VULKAN_OFF);
        assert_int_equal(ollama_vulkan_state("0.30.0-rc24", NULL), OLLAMA_VULKAN_ON_BY_DEFAULT);
        assert_int_equal(ollama_vulkan_state("0.30.0", NULL), OLLAMA_VULKAN_ON_BY_DEFAULT);
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
                .raw = true,
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
        assert_true(json_object_object_get_ex(o, "raw", &v));
        assert_true(json_object_get_boolean(v));
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
                cmocka_unit_test(test_generate_body), cmocka_unit_test(test_bytes_per_token),
                cmocka_unit_test(test_bound),         cmocka_unit_test(test_prompts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
