/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The checks of what happens at boot: vfio-pci loads before the host drivers, egpuctl's service and
 * udev rule are installed and ordered before the guests. */
#include <glob.h>
#include <sys/stat.h>

#include "conf-files.h"
#include "doctor-internal.h"
#include "util.h"
#include "vendor-reset-ids.h"

/* The host drivers that would take f: the one bound now, else the usual ones for its vendor and class. */
static size_t host_drivers_for(const PciFunction *f, const char *ret[static 2]) {
        if (f->driver && !doctor_is_vfio_driver(f->driver) && !streq(f->driver, "pci-stub")) {
                ret[0] = f->driver;
                return 1;
        }
        if (doctor_is_audio(f)) {
                ret[0] = "snd_hda_intel";
                return 1;
        }
        if (!pci_function_is_display(f))
                return 0;
        switch (f->vendor) {
        case PCI_VENDOR_ATI:
                ret[0] = "amdgpu";
                return 1;
        case PCI_VENDOR_NVIDIA:
                ret[0] = "nouveau";
                ret[1] = "nvidia";
                return 2;
        case PCI_VENDOR_INTEL:
                ret[0] = "i915";
                ret[1] = "xe";
                return 2;
        default:
                return 0;
        }
}

static bool udev_rules_installed(const Doctor *d, const char *pattern, char **ret_path);

/* The fix that loads pre before module. kmod reads only the first softdep line of a module, so pre joins
 * that line when there is one; else "softdep MODULE pre: PRE" is queued for the file the fix ends with. */
static int fix_softdep(
        Check *c,
        const ModprobeConfig *m,
        const char *module,
        const char *pre,
        char ***queue,
        size_t *n,
        size_t *allocated) {
        const ModprobeEntry *sd = modprobe_find_softdep(m, module);
        char *line;

        if (sd)
                return check_fix(
                        c,
                        "# kmod reads only the first softdep line of a module: add %s to %s:%u\n"
                        "sed -i '%us/softdep[[:space:]]*[^[:space:]]*/& pre: %s/' %s",
                        pre,
                        sd->file,
                        sd->line,
                        sd->line,
                        pre,
                        sd->file);
        if (asprintf(&line, "softdep %s pre: %s", module, pre) < 0)
                return -ENOMEM;
        return strv_push(queue, n, allocated, line);
}

static int check_vfio_config(Doctor *d, Check *c) {
        const Host *h = d->host;
        const ModprobeConfig *m = &d->modprobe;
        const ModprobeEntry *ids_entry;
        const char *ids_value = NULL;
        uint32_t ids[64][2];
        size_t n_ids = 0;
        _cleanup_strv_free_ char **checked = NULL, **new_softdeps = NULL;
        size_t n_checked = 0, allocated_checked = 0, n_new_softdeps = 0, allocated_new_softdeps = 0;
        _cleanup_free_ char *ok = NULL;
        bool egpuctl_rules, need_vr = false;
        int r;

        ids_entry = modprobe_find_option(m, "vfio_pci", "ids", &ids_value);
        if (ids_entry)
                n_ids = vfio_ids_parse(ids_value, ids, ELEMENTSOF(ids));
        egpuctl_rules = udev_rules_installed(d, "*egpuctl*.rules", NULL);

        if (h->n_egpus == 0 && !ids_entry && !doctor_vendor_reset_configured(d))
                return check_finish(c, CHECK_SKIP, "no eGPU connected, and no vfio-pci configuration");

        /* Global ids also take identical internal devices. */
        for (size_t i = 0; i < n_ids; i++)
                FOREACH_ARRAY(fp, h->pci, h->n_pci) {
                        const PciFunction *f = *fp;
                        if (f->vendor != ids[i][0] || f->device != ids[i][1] ||
                            pci_function_is_removable(f) || host_find_egpu_of(h, f))
                                continue;
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "\"options vfio-pci ids=\" (%s:%u) lists %04x:%04x, which the internal "
                                "%s has too: vfio-pci takes it from the host at boot",
                                ids_entry->file,
                                ids_entry->line,
                                ids[i][0],
                                ids[i][1],
                                f->bdf);
                        if (r < 0)
                                return r;
                        r = check_fix(
                                c,
                                "# Stop claiming by id (egpuctl binds the eGPU by its address instead):\n"
                                "sed -i '%us/^/# /' %s\nupdate-initramfs -u -k all",
                                ids_entry->line,
                                ids_entry->file);
                        if (r < 0)
                                return r;
                }

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const PciFunction *g = (*ep)->gpu;

                if (g->vendor <= 0xffff && g->device <= 0xffff &&
                    vendor_reset_supports((uint16_t) g->vendor, (uint16_t) g->device))
                        need_vr = true;
                FOREACH_ARRAY(fp, (*ep)->functions, (*ep)->n_functions) {
                        const PciFunction *f = *fp;
                        const char *drivers[2] = {};
                        size_t n_drivers = host_drivers_for(f, drivers);
                        bool by_id = false;

                        for (size_t i = 0; i < n_ids; i++)
                                by_id = by_id || (ids[i][0] == f->vendor && ids[i][1] == f->device);
                        if (!by_id && !egpuctl_rules) {
                                r = check_problem(
                                        c,
                                        doctor_is_vfio_driver(f->driver) ? CHECK_WARN : CHECK_FAIL,
                                        "nothing makes vfio-pci claim %s (%04x:%04x): no \"options "
                                        "vfio-pci ids=\" with it and no egpuctl udev rules",
                                        f->bdf,
                                        f->vendor,
                                        f->device);
                                if (r < 0)
                                        return r;
                        }
                        for (size_t k = 0; k < n_drivers; k++) {
                                const char *drv = drivers[k];
                                const ModprobeEntry *inst;
                                _cleanup_free_ char *norm = modprobe_normalize(drv);

                                if (!norm)
                                        return -ENOMEM;
                                if (strv_contains(checked, norm))
                                        continue;
                                r = strv_push(&checked, &n_checked, &allocated_checked, strdup(norm));
                                if (r < 0)
                                        return r;
                                inst = modprobe_find_install(m, drv);
                                if (modprobe_has_softdep_pre(m, drv, "vfio_pci") ||
                                    modprobe_find_blacklist(m, drv) ||
                                    (inst && inst->args[0] && strstr(inst->args[0], "vfio"))) {
                                        r = strextendf_with_separator(&ok, ", ", "vfio-pci before %s", drv);
                                        if (r < 0)
                                                return r;
                                        continue;
                                }
                                r = check_problem(
                                        c,
                                        streq_ptr(f->driver, drv) ? CHECK_FAIL : CHECK_WARN,
                                        "nothing loads vfio-pci before %s (for %s), so %s can claim it "
                                        "first at boot or on hot-plug%s",
                                        drv,
                                        f->bdf,
                                        drv,
                                        streq_ptr(f->driver, drv) ? ", as it did now" : "");
                                if (r < 0)
                                        return r;
                                r = fix_softdep(
                                        c,
                                        m,
                                        drv,
                                        "vfio-pci",
                                        &new_softdeps,
                                        &n_new_softdeps,
                                        &allocated_new_softdeps);
                                if (r < 0)
                                        return r;
                        }
                }
        }
        if (h->n_egpus == 0 && doctor_vendor_reset_configured(d))
                need_vr = true;
        if (need_vr) {
                if (!modprobe_has_softdep_pre(m, "vfio_pci", "vendor_reset")) {
                        r = check_problem(
                                c,
                                CHECK_WARN,
                                "vendor-reset is not loaded before vfio-pci (no \"softdep vfio-pci pre: "
                                "vendor-reset\"), so the GPU can be bound before its reset is hooked");
                        if (r < 0)
                                return r;
                        r = fix_softdep(
                                c,
                                m,
                                "vfio-pci",
                                "vendor-reset",
                                &new_softdeps,
                                &n_new_softdeps,
                                &allocated_new_softdeps);
                        if (r < 0)
                                return r;
                } else {
                        r = strextendf_with_separator(&ok, ", ", "vendor-reset before vfio-pci");
                        if (r < 0)
                                return r;
                }
        }
        if (n_new_softdeps > 0) {
                r = check_fix(
                        c,
                        "# egpuctl install --apply writes these lines to /etc/modprobe.d/egpuctl.conf; or "
                        "by "
                        "hand:\ncat >> /etc/modprobe.d/egpuctl.conf <<'EOF'");
                STRV_FOREACH(s, new_softdeps)
                        if (r >= 0)
                                r = check_fix(c, "%s", *s);
                if (r >= 0)
                        r = check_fix(c, "EOF");
                if (r < 0)
                        return r;
        }
        if (check_has_problem(c) && c->fix && !strstr(c->fix, "update-initramfs")) {
                r = check_fix(c, "update-initramfs -u -k all");
                if (r < 0)
                        return r;
        }
        if (h->n_egpus == 0)
                return check_finish(
                        c,
                        CHECK_OK,
                        "%s; connect the eGPU to check the driver order",
                        ids_entry ? "\"options vfio-pci ids=\" claims no internal device"
                                  : "no global vfio-pci ids");
        return check_finish(
                c,
                CHECK_OK,
                "%s%s",
                strna(ok),
                n_ids > 0 ? "; \"options vfio-pci ids=\" claims no internal device" : "");
}

/* udev's rules folders and systemd's system unit folders, as conf-files.h names them. */
static const char *const udev_rules_dirs[] = CONF_PATHS("udev/rules.d");
static const char *const unit_dirs[] = CONF_PATHS("systemd/system");

/* The first udev rules file (by name, as udev orders them) that matches pattern; NULL when none. */
static bool udev_rules_installed(const Doctor *d, const char *pattern, char **ret_path) {
        _cleanup_strv_free_ char **files = NULL;

        if (conf_files_list(d->root, udev_rules_dirs, ELEMENTSOF(udev_rules_dirs), pattern, &files) < 0 ||
            !files[0])
                return false;
        if (ret_path)
                *ret_path = strdup(files[0]);
        return true;
}

/* The path (without root) of unit name in the unit folders, NULL when not installed (or masked). */
static char *unit_path(const Doctor *d, const char *name) {
        _cleanup_strv_free_ char **files = NULL;

        if (conf_files_list(d->root, unit_dirs, ELEMENTSOF(unit_dirs), name, &files) < 0 || !files[0])
                return NULL;
        return strdup(files[0]);
}

/* Whether unit name is enabled: a link or file of that name in some *.wants/ folder of the unit folders
 * (a dangling link counts: under --root its absolute target points outside). */
static bool unit_enabled(const Doctor *d, const char *name) {
        FOREACH_ARRAY(dir, unit_dirs, ELEMENTSOF(unit_dirs)) {
                _cleanup_free_ char *rel = path_join(*dir, "*.wants"), *pattern = NULL;
                glob_t g = {};
                bool found = false;

                pattern = rel ? path_under_root(d->root, rel) : NULL;
                if (!pattern)
                        return false;
                if (glob(pattern, GLOB_ONLYDIR | GLOB_NOSORT, NULL, &g) == 0)
                        for (size_t i = 0; i < g.gl_pathc && !found; i++) {
                                _cleanup_free_ char *p = path_join(g.gl_pathv[i], name);
                                struct stat st;

                                found = p && lstat(p, &st) >= 0;
                        }
                globfree(&g);
                if (found)
                        return true;
        }
        return false;
}

/* A problem for each "After=" of the file (a unit file or drop-in of egpuctl.service) that names the
 * guests' service. */
static int check_unit_after(const char *path, const char *text, void *userdata) {
        _cleanup_strv_free_ char **after = NULL;
        Check *c = userdata;
        int r;

        r = unit_file_get_list(text, "Unit", "After", &after);
        if (r < 0)
                return r;
        STRV_FOREACH(a, after) {
                if (!streq(*a, "pve-guests.service") && !streq(*a, "libvirt-guests.service"))
                        continue;
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "egpuctl.service is ordered after %s (%s), so the VMs autostart before the eGPU is "
                        "attached",
                        *a,
                        path);
                if (r >= 0)
                        r = check_fix(
                                c,
                                "sed -i '/^After=/s/[[:space:]]*%s//' %s\nsystemctl daemon-reload",
                                *a,
                                path);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The udev rules of the old guide's kind: match a Thunderbolt device by its vendor name and run a script. */
static int find_old_udev_rules(const Doctor *d, Check *c) {
        _cleanup_strv_free_ char **files = NULL;
        int r;

        r = doctor_list_dir(d, "/etc/udev/rules.d", "*.rules", &files);
        if (r < 0)
                return r;
        STRV_FOREACH(f, files) {
                _cleanup_free_ char *text = NULL;
                const char *p = *f, *name = path_basename(p);

                if (strstr(name, "egpuctl") || doctor_read_root_file(d, p, &text) < 0)
                        continue;
                if (!(streq(name, "99-egpu-vfio.rules") ||
                      (strstr(text, "SUBSYSTEM==\"thunderbolt\"") && strstr(text, "ATTR{vendor_name}") &&
                       strstr(text, "RUN"))))
                        continue;
                r = check_problem(
                        c,
                        CHECK_WARN,
                        "%s (from the hand-made setup) authorizes Thunderbolt devices by vendor name, "
                        "any device of that vendor, and races egpuctl: superseded by egpuctl's rules",
                        p);
                if (r >= 0)
                        r = check_fix(c, "rm %s\nudevadm control --reload-rules", p);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_services(Doctor *d, Check *c) {
        _cleanup_free_ char *unit = NULL, *rules = NULL, *old = NULL, *text = NULL;
        int r;

        unit = unit_path(d, "egpuctl.service");
        if (!unit) {
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "egpuctl.service is not installed (not in /etc/systemd/system nor "
                        "/usr/lib/systemd/system): nothing attaches the eGPU at boot before the VMs start");
                if (r >= 0)
                        r = check_fix(
                                c,
                                "# Writes egpuctl.service (enabled), its udev rule, the modprobe and "
                                "modules-load files:\n"
                                "egpuctl install --apply\nsystemctl start egpuctl.service");
                if (r < 0)
                        return r;
        } else {
                if (!unit_enabled(d, "egpuctl.service")) {
                        r = check_problem(c, CHECK_FAIL, "egpuctl.service is installed but not enabled");
                        if (r >= 0)
                                r = check_fix(c, "systemctl enable --now egpuctl.service");
                        if (r < 0)
                                return r;
                }
                /* The unit file, then its drop-ins in /etc/systemd/system/egpuctl.service.d/. */
                r = doctor_read_root_file(d, unit, &text);
                if (r == -ENOMEM)
                        return r;
                r = r < 0 ? 0 : check_unit_after(unit, text, c);
                if (r >= 0)
                        r = conf_files_parse(
                                d->root,
                                (const char *const[]){ "/etc/systemd/system/egpuctl.service.d" },
                                1,
                                "*.conf",
                                check_unit_after,
                                c);
                if (r < 0)
                        return r;
        }
        if (!udev_rules_installed(d, "*egpuctl*.rules", &rules)) {
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "no egpuctl udev rules (*egpuctl*.rules in /etc/udev/rules.d or "
                        "/usr/lib/udev/rules.d): a hot-plugged eGPU is not attached");
                if (r >= 0)
                        r = check_fix(c, "egpuctl install --apply");
                if (r < 0)
                        return r;
        }

        old = unit_path(d, "egpu-boot-auth.service");
        if (old) {
                r = check_problem(
                        c,
                        CHECK_WARN,
                        "%s (from the hand-made setup) runs after multi-user.target, that is after the "
                        "VMs autostart: superseded by egpuctl.service",
                        old);
                if (r >= 0)
                        r = check_fix(
                                c,
                                "systemctl disable --now egpu-boot-auth.service\n"
                                "rm %s /usr/local/bin/egpu-boot-auth.sh\nsystemctl daemon-reload",
                                old);
                if (r < 0)
                        return r;
        }
        r = find_old_udev_rules(d, c);
        if (r < 0)
                return r;

        return check_finish(
                c,
                CHECK_OK,
                "egpuctl.service (%s) enabled and ordered before the guests; rules %s",
                unit,
                rules);
}

const DoctorCheck doctor_checks_boot[] = {
        { "vfio-config",
          "vfio-pci claims the eGPU at boot and on hot-plug, and nothing else",
          check_vfio_config },
        { "services",
          "egpuctl.service and its udev rule are installed, enabled, ordered before the guests",
          check_services },
        {},
};
