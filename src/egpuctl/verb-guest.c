/* SPDX-License-Identifier: GPL-2.0-or-later */
/* egpuctl guest check: is this VM guest ready to run Ollama on the passed-through GPU? */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-output.h"
#include "check.h"
#include "egpuctl.h"
#include "guest-gpu.h"
#include "guest-os.h"
#include "guest-service.h"
#include "guest-tables.h"
#include "output.h"
#include "guest-vulkan.h"
#include "macro.h"
#include "ollama.h"
#include "util.h"

/* Declared in egpuctl.h by the verb table's owner; repeated here so that this file builds alone. */
int verb_guest(int argc, char *argv[]);

/* ---- checks and their output (to be unified with doctor's) ----
 * The result format of doctor: JSON {"checks": [{"id", "status", "summary", "fix"}], "result":
 * "ok|warn|fail"}; text grouped, worst first, colour only on a tty. */

/* Adds a finished check; fix (may be NULL) is taken over. */
_printf_(5, 6) static int guest_check_add(
        CheckList *l,
        const char *id,
        CheckStatus status,
        char *fix,
        const char *fmt,
        ...) {
        _cleanup_free_ char *summary = NULL;
        Check *c;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&summary, fmt, ap);
        va_end(ap);
        if (k < 0 || !(c = check_list_add(l, id, status, "%s", summary))) {
                free(fix);
                return -ENOMEM;
        }
        c->fix = fix;
        return 0;
}

/* ---- gathering ---- */

typedef struct GuestState {
        const char *root;
        const char *url;
        usec_t timeout;

        GuestGpu *gpus;
        size_t n_gpus;
        int gpus_r;
        const GuestGpu *gpu;

        OsRelease os;
        int os_r;

        VulkanDevice *vk;
        size_t n_vk;
        int vk_r;
        char *vk_error;

        ServiceEnv env;
        int env_r;

        char *version;
        int version_r;
        char *version_error;
        OllamaModel *models;
        size_t n_models;
        int ps_r;
        char *ps_error;
} GuestState;

static void guest_state_done(GuestState *s) {
        guest_gpus_free(s->gpus, s->n_gpus);
        os_release_done(&s->os);
        vulkan_devices_free(s->vk, s->n_vk);
        free(s->vk_error);
        service_env_done(&s->env);
        free(s->version);
        free(s->version_error);
        ollama_models_free(s->models, s->n_models);
        free(s->ps_error);
}

/* The vendor as udev's hwdb names it ("Advanced Micro Devices, Inc. [AMD/ATI]"), as lspci does. */
static const char *vendor_label(const GuestGpu *g) {
        return g->vendor_name ?: "the GPU's vendor";
}

static char *gpu_describe(const GuestGpu *g) {
        char *s = NULL;
        char rev[16] = "";

        if (g->revision >= 0)
                snprintf(rev, sizeof(rev), " rev %02x", (unsigned) g->revision);
        if (asprintf(
                    &s,
                    "%s %04x:%04x%s%s%s",
                    g->slot,
                    g->vendor,
                    g->device,
                    rev,
                    g->model ? " " : "",
                    strempty(g->model)) < 0)
                return NULL;
        return s;
}

/* ---- the checks ---- */

static int check_gpu(GuestState *s, CheckList *l) {
        _cleanup_free_ char *d = NULL, *others = NULL;

        if (s->gpus_r < 0)
                return guest_check_add(
                        l,
                        "guest-gpu",
                        CHECK_FAIL,
                        NULL,
                        "cannot list PCI devices: %s",
                        strerror(-s->gpus_r));

        if (!s->gpu) {
                for (size_t i = 0; i < s->n_gpus; i++) {
                        char *n;
                        if (asprintf(
                                    &n,
                                    "%s%s%s %04x:%04x",
                                    strempty(others),
                                    others ? ", " : "",
                                    s->gpus[i].slot,
                                    s->gpus[i].vendor,
                                    s->gpus[i].device) < 0)
                                return -ENOMEM;
                        free(others);
                        others = n;
                }
                return guest_check_add(
                        l,
                        "guest-gpu",
                        CHECK_FAIL,
                        strdup("on the host, attach the eGPU and pass it to this VM (hostpci with pcie=1 on "
                               "a q35 machine), "
                               "then restart the VM"),
                        "no passed-through GPU on the guest's PCI bus%s%s%s",
                        others ? " (only the hypervisor's display: " : "",
                        strempty(others),
                        others ? ")" : "");
        }

        d = gpu_describe(s->gpu);
        if (!d)
                return -ENOMEM;
        return guest_check_add(l, "guest-gpu", CHECK_OK, NULL, "%s %s", vendor_label(s->gpu), d);
}

static int check_driver(GuestState *s, CheckList *l) {
        const GuestGpu *g = s->gpu;
        const char *module;
        _cleanup_free_ char *hint = NULL;
        char *fix;

        if (!g)
                return guest_check_add(l, "guest-driver", CHECK_SKIP, NULL, "no passed-through GPU");
        if (g->driver && gpu_driver_is_known(g->driver))
                return guest_check_add(
                        l,
                        "guest-driver",
                        CHECK_OK,
                        NULL,
                        "%s is bound to %s",
                        g->driver,
                        g->slot);

        module = gpu_vendor_default_driver(g->vendor) ?: "the GPU's driver";
        if (gpu_driver_package_hint(s->os_r >= 0 ? &s->os : NULL, g->vendor, &hint) < 0)
                return -ENOMEM;
        if (asprintf(
                    &fix,
                    "%s%s%s; then modprobe %s, and echo %s > /etc/modules-load.d/%s.conf to keep it",
                    hint,
                    s->os_r >= 0 && s->os.pretty_name ? " on " : "",
                    s->os_r >= 0 && s->os.pretty_name ? s->os.pretty_name : "",
                    module,
                    module,
                    module) < 0)
                return -ENOMEM;

        if (g->driver)
                return guest_check_add(
                        l,
                        "guest-driver",
                        CHECK_FAIL,
                        fix,
                        "%s is bound to %s, not to a GPU driver",
                        g->slot,
                        g->driver);
        return guest_check_add(
                l,
                "guest-driver",
                CHECK_FAIL,
                fix,
                "no kernel driver is bound to %s (%s expected)",
                g->slot,
                module);
}

/* The user that runs Ollama: "ollama" from etc/passwd, else the one running egpuctl. */
static int ollama_user(const char *root, GuestUser *ret, bool *ret_is_service) {
        GuestUser u = {};
        int r;

        r = guest_user_lookup(root, "ollama", 0, &u);
        if (r >= 0) {
                *ret = u;
                *ret_is_service = true;
                return 0;
        }
        r = guest_user_lookup(root, NULL, getuid(), &u);
        if (r < 0) {
                /* Not in that passwd (another root): the current ids, without supplementary groups. */
                u = (GuestUser){ .uid = getuid(), .gid = getgid() };
                if (asprintf(&u.name, "uid %u", (unsigned) u.uid) < 0)
                        return -ENOMEM;
                u.groups = malloc(sizeof(gid_t));
                if (!u.groups) {
                        guest_user_done(&u);
                        return -ENOMEM;
                }
                u.groups[0] = u.gid;
                u.n_groups = 1;
        }
        *ret = u;
        *ret_is_service = false;
        return 0;
}

static int check_dri(GuestState *s, CheckList *l) {
        const GuestGpu *g = s->gpu;
        GuestUser u = {};
        bool service;
        int r;

        if (!g)
                return guest_check_add(l, "guest-dri", CHECK_SKIP, NULL, "no passed-through GPU");
        if (!g->render_nodes || !g->render_nodes[0])
                return guest_check_add(
                        l,
                        "guest-dri",
                        CHECK_FAIL,
                        strdup(g->driver ? "the bound driver does not offer DRM render nodes: use amdgpu, "
                                           "i915/xe or nvidia-drm"
                                         : "bind the GPU's kernel driver (see guest-driver)"),
                        "%s has no DRM render node (/dev/dri/renderD*)",
                        g->slot);

        r = ollama_user(s->root, &u, &service);
        if (r < 0)
                return r;

        for (char **n = g->render_nodes; *n; n++) {
                _cleanup_free_ char *rel = NULL, *path = NULL, *group = NULL, *fix = NULL;
                struct stat st;

                if (asprintf(&rel, "/dev/dri/%s", *n) < 0 || guest_root_path(s->root, rel, &path) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
                if (stat(path, &st) < 0) {
                        r = guest_check_add(
                                l,
                                "guest-dri",
                                CHECK_FAIL,
                                strdup("check that udev runs in the guest (systemctl status systemd-udevd)"),
                                "%s does not exist: %s",
                                rel,
                                strerror(errno));
                        goto finish;
                }
                if (guest_group_name(s->root, st.st_gid, &group) < 0 &&
                    asprintf(&group, "%u", (unsigned) st.st_gid) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }

                if (guest_user_can_open(&u, st.st_uid, st.st_gid, st.st_mode & 07777)) {
                        r = guest_check_add(
                                l,
                                "guest-dri",
                                CHECK_OK,
                                NULL,
                                "%s (group %s, mode %04o) can be opened by %s%s",
                                rel,
                                group,
                                (unsigned) (st.st_mode & 07777),
                                u.name,
                                service ? ", the user that runs Ollama" : "");
                        goto finish;
                }
                if (asprintf(
                            &fix,
                            "usermod -aG %s %s, then restart Ollama (systemctl restart ollama)",
                            group,
                            service ? "ollama" : u.name) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
                r = guest_check_add(
                        l,
                        "guest-dri",
                        CHECK_FAIL,
                        TAKE_PTR(fix),
                        "%s%s cannot open %s (group %s, mode %04o): not a member of group %s",
                        u.name,
                        service ? " (runs Ollama)" : "",
                        rel,
                        group,
                        (unsigned) (st.st_mode & 07777),
                        group);
                goto finish;
        }
        r = 0;
finish:
        guest_user_done(&u);
        return r;
}

static char *vulkan_describe(const VulkanDevice *d) {
        _cleanup_free_ char *heaps = NULL;
        char *s = NULL;

        for (size_t h = 0; h < d->n_heaps; h++) {
                char b[32], *n;
                format_bytes(b, sizeof(b), d->heaps[h].size);
                if (asprintf(
                            &n,
                            "%s%s%s%s",
                            strempty(heaps),
                            heaps ? ", " : "",
                            b,
                            d->heaps[h].device_local ? " device-local" : " host") < 0)
                        return NULL;
                free(heaps);
                heaps = n;
        }
        if (asprintf(
                    &s,
                    "%s (type %s, driver %s%s%s; heaps: %s)",
                    d->name,
                    vulkan_device_type_to_string(d->type),
                    d->driver_name ?: "unknown",
                    d->driver_info && *d->driver_info ? ", " : "",
                    d->driver_info ? d->driver_info : "",
                    heaps ?: "none") < 0)
                return NULL;
        return s;
}

static int check_vulkan(GuestState *s, CheckList *l) {
        const GuestGpu *g = s->gpu;
        const VulkanDevice *match = NULL, *cpu = NULL;
        _cleanup_free_ char *all = NULL, *d = NULL;
        const char *pkg;

        pkg = g && g->vendor == 0x10de
                ? "install libvulkan1 and the NVIDIA driver (it ships the Vulkan driver)"
                : "apt-get install libvulkan1 mesa-vulkan-drivers";

        if (s->vk_r == -ELIBACC)
                return guest_check_add(
                        l,
                        "guest-vulkan",
                        g ? CHECK_FAIL : CHECK_WARN,
                        strdup(pkg),
                        "the Vulkan loader (%s) is not available: %s",
                        vulkan_loader_name(),
                        s->vk_error ?: "cannot be opened");
        if (s->vk_r == -ENODEV)
                return guest_check_add(
                        l,
                        "guest-vulkan",
                        g ? CHECK_FAIL : CHECK_WARN,
                        strdup(pkg),
                        "no Vulkan driver is installed (%s)",
                        s->vk_error ?: "VK_ERROR_INCOMPATIBLE_DRIVER");
        if (s->vk_r < 0)
                return guest_check_add(
                        l,
                        "guest-vulkan",
                        CHECK_FAIL,
                        NULL,
                        "cannot enumerate Vulkan devices: %s",
                        s->vk_error ?: strerror(-s->vk_r));

        for (size_t i = 0; i < s->n_vk; i++) {
                const VulkanDevice *v = &s->vk[i];
                _cleanup_free_ char *one = vulkan_describe(v);

                if (!one || strextendf_with_separator(&all, "; ", "%s", one) < 0)
                        return -ENOMEM;
                if (v->type == VULKAN_DEVICE_CPU) {
                        if (!cpu)
                                cpu = v;
                } else if (g && v->vendor_id == g->vendor && !match)
                        match = v;
                else if (!g && !match)
                        match = v;
        }

        if (s->n_vk == 0)
                return guest_check_add(
                        l,
                        "guest-vulkan",
                        g ? CHECK_FAIL : CHECK_WARN,
                        strdup(pkg),
                        "no Vulkan device was found");

        if (match) {
                d = vulkan_describe(match);
                if (!d)
                        return -ENOMEM;
                return guest_check_add(l, "guest-vulkan", CHECK_OK, NULL, "%s", d);
        }

        if (cpu && !g)
                return guest_check_add(
                        l,
                        "guest-vulkan",
                        CHECK_WARN,
                        NULL,
                        "only a CPU (software) Vulkan device was found, and there is no GPU: %s",
                        all);
        if (cpu)
                return guest_check_add(
                        l,
                        "guest-vulkan",
                        CHECK_FAIL,
                        strdup(g->vendor == 0x10de ? "install the NVIDIA driver with its Vulkan driver, "
                                                     "then check guest-dri"
                                                   : "apt-get install mesa-vulkan-drivers (RADV for AMD, "
                                                     "ANV for Intel), "
                                                     "then check guest-driver and guest-dri"),
                        "only a CPU (software) Vulkan device was found, no %s GPU: %s",
                        vendor_label(g),
                        all);
        return guest_check_add(
                l,
                "guest-vulkan",
                CHECK_FAIL,
                strdup(pkg),
                "no Vulkan device of %s (PCI vendor %04x) was found: %s",
                vendor_label(g),
                g->vendor,
                all);
}

static const char *vulkan_env(const GuestState *s) {
        return s->env_r >= 0 ? service_env_get(&s->env, "OLLAMA_VULKAN") : NULL;
}

static const char *vulkan_fix = "mkdir -p /etc/systemd/system/ollama.service.d && "
                                "printf '[Service]\\nEnvironment=OLLAMA_VULKAN=1\\n' > "
                                "/etc/systemd/system/ollama.service.d/vulkan.conf && "
                                "systemctl daemon-reload && systemctl restart ollama";

/* Why Ollama does not use Vulkan, for a summary. */
static const char *vulkan_off_reason(const GuestState *s, OllamaVulkanState vs) {
        if (vs == OLLAMA_VULKAN_UNAVAILABLE)
                return "this version of Ollama has no OLLAMA_VULKAN: it came in 0.12.11";
        if (s->env_r == -ENOENT)
                return "no ollama.service found";
        if (vs == OLLAMA_VULKAN_OFF_BY_ENV)
                return "OLLAMA_VULKAN is set to a value Ollama reads as false";
        return "no OLLAMA_VULKAN=1 in ollama.service";
}

static int check_rocm(GuestState *s, CheckList *l) {
        const GuestGpu *g = s->gpu;
        const AmdGfxArch *arch;
        const RocmDropped *dropped;
        OllamaVulkanState vs;
        const char *hsa;

        if (!g || g->vendor != 0x1002)
                return guest_check_add(
                        l,
                        "guest-rocm",
                        CHECK_SKIP,
                        NULL,
                        g ? "not an AMD GPU" : "no passed-through GPU");

        arch = amd_gfx_arch_lookup(g->device);
        if (!arch)
                return guest_check_add(
                        l,
                        "guest-rocm",
                        CHECK_OK,
                        NULL,
                        "1002:%04x is not among the GPUs that current ROCm dropped (as far as egpuctl "
                        "knows)",
                        g->device);
        dropped = rocm_dropped_lookup(arch->gfx);
        if (!dropped)
                return guest_check_add(
                        l,
                        "guest-rocm",
                        CHECK_OK,
                        NULL,
                        "%s (%s) is among the targets of Ollama's ROCm runner",
                        arch->gfx,
                        arch->chip);
        /* It is Ollama's own build that decides (ollama-rocm.table): an older Ollama may still have it. */
        if (s->version_r >= 0 && !rocm_dropped_in(dropped, s->version))
                return guest_check_add(
                        l,
                        "guest-rocm",
                        CHECK_OK,
                        NULL,
                        "%s (%s): Ollama %s's ROCm runner still has kernels for it; %s",
                        arch->gfx,
                        arch->chip,
                        s->version,
                        dropped->note);

        vs = ollama_vulkan_state(s->version, vulkan_env(s));
        if (ollama_vulkan_state_on(vs))
                return guest_check_add(
                        l,
                        "guest-rocm",
                        CHECK_OK,
                        NULL,
                        "%s (%s): %s; Ollama uses Vulkan instead (%s%s%s)",
                        arch->gfx,
                        arch->chip,
                        dropped->note,
                        vs == OLLAMA_VULKAN_ON_BY_ENV ? "OLLAMA_VULKAN=" : "on by default in this version",
                        vs == OLLAMA_VULKAN_ON_BY_ENV ? vulkan_env(s) : "",
                        vs == OLLAMA_VULKAN_ON_BY_ENV ? " in ollama.service, which Ollama reads as true"
                                                      : "");

        hsa = s->env_r >= 0 ? service_env_get(&s->env, "HSA_OVERRIDE_GFX_VERSION") : NULL;
        return guest_check_add(
                l,
                "guest-rocm",
                CHECK_WARN,
                strdup(vulkan_fix),
                "%s (%s): %s, so Ollama's ROCm runner crashes or falls back to the CPU, and Ollama is not "
                "set "
                "to use Vulkan (%s)%s",
                arch->gfx,
                arch->chip,
                dropped->note,
                vulkan_off_reason(s, vs),
                hsa ? "; HSA_OVERRIDE_GFX_VERSION does not help here" : "");
}

static bool gpu_needs_vulkan(const GuestGpu *g, const char *s_version) {
        const AmdGfxArch *a;

        if (!g)
                return false;
        if (g->vendor == 0x8086)
                /* Ollama builds CPU, CUDA, ROCm and Vulkan runners, no other Intel backend (the presets of
                 * ollama llama/server/CMakePresets.json@fb307609) */
                return true;
        if (g->vendor != 0x1002)
                return false;
        a = amd_gfx_arch_lookup(g->device);
        return a && rocm_dropped_in(rocm_dropped_lookup(a->gfx), s_version);
}

static int check_ollama(GuestState *s, CheckList *l) {
        _cleanup_free_ char *loaded = NULL, *vk = NULL;
        CheckStatus status = CHECK_OK;
        _cleanup_free_ char *fix = NULL;
        OllamaVulkanState vs;
        const char *env = vulkan_env(s);
        bool all_gpu = true;

        if (s->version_r < 0) {
                const char *fixs = s->version_r == -ECONNREFUSED
                        ? "start Ollama: systemctl enable --now ollama (or run: ollama serve)"
                        : s->version_r == -ETIMEDOUT
                        ? "Ollama is up but does not answer: see journalctl -u ollama"
                        : NULL;
                return guest_check_add(
                        l,
                        "guest-ollama",
                        CHECK_FAIL,
                        fixs ? strdup(fixs) : NULL,
                        "Ollama does not answer at %s: %s",
                        s->url,
                        s->version_error ?: strerror(-s->version_r));
        }

        vs = ollama_vulkan_state(s->version, env);
        switch (vs) {
        case OLLAMA_VULKAN_ON_BY_ENV:
                if (asprintf(&vk, "Vulkan enabled (OLLAMA_VULKAN=%s, which Ollama reads as true)", env) < 0)
                        vk = NULL;
                break;
        case OLLAMA_VULKAN_ON_BY_DEFAULT:
                vk = strdup("Vulkan on by default in this version");
                break;
        default:
                if (asprintf(&vk, "Vulkan not enabled (%s)", vulkan_off_reason(s, vs)) < 0)
                        vk = NULL;
        }
        if (!vk)
                return -ENOMEM;
        if (!ollama_vulkan_state_on(vs) && gpu_needs_vulkan(s->gpu, s->version)) {
                status = CHECK_WARN;
                fix = strdup(vulkan_fix);
                if (!fix)
                        return -ENOMEM;
        }

        if (s->ps_r < 0) {
                status = CHECK_WARN;
                if (asprintf(&loaded, "cannot list loaded models: %s", s->ps_error ?: strerror(-s->ps_r)) <
                    0)
                        return -ENOMEM;
        } else if (s->n_models == 0)
                loaded = strdup("no model loaded now");
        else {
                for (size_t i = 0; i < s->n_models; i++) {
                        const OllamaModel *m = &s->models[i];
                        char a[32], b[32], *n;
                        int pct;

                        if (m->size_vram >= m->size && m->size > 0)
                                continue;
                        all_gpu = false;
                        format_bytes(a, sizeof(a), m->size_vram);
                        format_bytes(b, sizeof(b), m->size);
                        pct = m->size > 0 ? (int) (100.0 * (double) m->size_vram / (double) m->size) : 0;
                        if (asprintf(
                                    &n,
                                    "%s%smodel %s has %s of %s (%d%%) in GPU memory, the rest runs on the "
                                    "CPU",
                                    strempty(loaded),
                                    loaded ? "; " : "",
                                    m->name,
                                    a,
                                    b,
                                    pct) < 0)
                                return -ENOMEM;
                        free(loaded);
                        loaded = n;
                }
                if (all_gpu) {
                        if (asprintf(
                                    &loaded,
                                    "%zu model%s loaded, all in GPU memory",
                                    s->n_models,
                                    s->n_models == 1 ? "" : "s") < 0)
                                return -ENOMEM;
                } else {
                        status = CHECK_WARN;
                        if (!fix) {
                                fix = strdup(
                                        "use a smaller model or quantization or a shorter context "
                                        "(num_ctx), "
                                        "or free GPU memory; check guest-vulkan if nothing is on the GPU");
                                if (!fix)
                                        return -ENOMEM;
                        }
                }
        }
        if (!loaded)
                return -ENOMEM;

        return guest_check_add(
                l,
                "guest-ollama",
                status,
                TAKE_PTR(fix),
                "Ollama %s at %s; %s; %s",
                s->version,
                s->url,
                vk,
                loaded);
}

/* ---- the verb ---- */

static json_object *vulkan_devices_to_json(const GuestState *s) {
        json_object *arr = json_object_new_array();

        if (!arr)
                return NULL;
        for (size_t i = 0; i < s->n_vk; i++) {
                const VulkanDevice *d = &s->vk[i];
                json_object *o = json_object_new_object(), *heaps = json_object_new_array();
                char api[32];

                if (!o || !heaps || json_object_array_add(arr, o) < 0) {
                        json_object_put(o);
                        json_object_put(heaps);
                        goto oom;
                }
                if (json_object_object_add(o, "heaps", heaps) < 0) {
                        json_object_put(heaps);
                        goto oom;
                }
                snprintf(
                        api,
                        sizeof(api),
                        "%u.%u.%u",
                        (d->api_version >> 22) & 0x7f,
                        (d->api_version >> 12) & 0x3ff,
                        d->api_version & 0xfff);
                if (json_add_string(o, "name", d->name) < 0 ||
                    json_add_string(o, "type", vulkan_device_type_to_string(d->type)) < 0 ||
                    json_object_object_add(o, "vendor_id", json_object_new_int64(d->vendor_id)) < 0 ||
                    json_object_object_add(o, "device_id", json_object_new_int64(d->device_id)) < 0 ||
                    json_add_string(o, "api_version", api) < 0 ||
                    json_add_string(o, "driver_name", d->driver_name) < 0 ||
                    json_add_string(o, "driver_info", d->driver_info) < 0)
                        goto oom;
                for (size_t h = 0; h < d->n_heaps; h++) {
                        json_object *ho = json_object_new_object();
                        if (!ho || json_object_array_add(heaps, ho) < 0) {
                                json_object_put(ho);
                                goto oom;
                        }
                        if (json_object_object_add(
                                    ho,
                                    "size",
                                    json_object_new_int64((int64_t) d->heaps[h].size)) < 0 ||
                            json_object_object_add(
                                    ho,
                                    "device_local",
                                    json_object_new_boolean(d->heaps[h].device_local)) < 0)
                                goto oom;
                }
        }
        return arr;
oom:
        json_object_put(arr);
        return NULL;
}

enum { ARG_URL = ARG_VERB_FIRST, ARG_TIMEOUT };

static int guest_option(int c, const char *arg, void *userdata) {
        GuestState *s = userdata;

        switch (c) {
        case ARG_URL:
                s->url = arg;
                return 0;
        case ARG_TIMEOUT:
                if (parse_timeout_arg(arg, 1, 3600 * USEC_PER_SEC, &s->timeout) < 0)
                        return usage_error("guest", "invalid --timeout: %s (seconds, up to 3600)", arg);
                return 0;
        default:
                return verb_common_option("guest", c);
        }
}

int verb_guest(int argc, char *argv[]) {
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "url", required_argument, NULL, ARG_URL },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                {},
        };
        _cleanup_ollama_client_ OllamaClient *client = NULL;
        GuestState s = { .url = OLLAMA_DEFAULT_URL, .timeout = 5 * USEC_PER_SEC };
        CheckList l = {};
        int r, ret = EXIT_PROBLEM;

        r = verb_parse("guest", argc, argv, options, guest_option, &s);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;
        if (optind >= argc)
                return usage_error("guest", "missing sub-verb: egpuctl guest check");
        if (!streq(argv[optind], "check"))
                return usage_error("guest", "unknown sub-verb '%s': egpuctl guest check", argv[optind]);
        if (optind + 1 < argc)
                return usage_error("guest", "unexpected argument '%s'", argv[optind + 1]);
        s.root = arg_global.root ?: "";

        /* Gather. */
        s.gpus_r = guest_gpus_enumerate(&s.gpus, &s.n_gpus);
        if (s.gpus_r >= 0)
                s.gpu = guest_gpus_pick(s.gpus, s.n_gpus);
        s.os_r = os_release_read(s.root, &s.os);
        s.vk_r = vulkan_enumerate(&s.vk, &s.n_vk, &s.vk_error);
        s.env_r = ollama_service_env(s.root, &s.env);

        /* libcurl takes milliseconds (CURLOPT_CONNECTTIMEOUT_MS, CURLOPT_TIMEOUT_MS). */
        r = ollama_client_new(
                s.url,
                usec_to_msec_ceil(MIN(s.timeout, 2 * USEC_PER_SEC), LONG_MAX),
                usec_to_msec_ceil(s.timeout, LONG_MAX),
                &client);
        if (r < 0)
                goto oom;
        s.version_r = ollama_get_version(client, &s.version);
        if (s.version_r < 0) {
                if (ollama_client_error(client) && !(s.version_error = strdup(ollama_client_error(client))))
                        goto oom;
        } else {
                s.ps_r = ollama_ps(client, &s.models, &s.n_models);
                if (s.ps_r < 0 && ollama_client_error(client) &&
                    !(s.ps_error = strdup(ollama_client_error(client))))
                        goto oom;
        }

        /* Check. */
        if (check_gpu(&s, &l) < 0 || check_driver(&s, &l) < 0 || check_dri(&s, &l) < 0 ||
            check_vulkan(&s, &l) < 0 || check_rocm(&s, &l) < 0 || check_ollama(&s, &l) < 0)
                goto oom;

        if (arg_global.json) {
                json_object *o = checks_to_json(l.checks, l.n_checks), *vk;

                if (!o)
                        goto oom;
                vk = vulkan_devices_to_json(&s);
                if (!vk || json_object_object_add(o, "vulkan_devices", vk) < 0) {
                        json_object_put(vk);
                        json_object_put(o);
                        goto oom;
                }
                r = json_print(o);
                json_object_put(o);
                if (r < 0)
                        goto oom;
        } else if (checks_print(l.checks, l.n_checks, "egpuctl guest check: the GPU inside this VM") < 0)
                goto oom;

        ret = checks_exit_status(l.checks, l.n_checks);
        goto finish;
oom:
        log_error("out of memory");
        ret = EXIT_PROBLEM;
finish:
        check_list_done(&l);
        guest_state_done(&s);
        return ret;
}
