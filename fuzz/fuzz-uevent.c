/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-uevent: a uevent's property set (KEY=VALUE lines, '\n' or NUL separated, as in a sysfs "uevent"
 * file or a kernel netlink message), with each value sent through the library code that the daemon's
 * event handling (event_router() in src/egpuctl/verb-daemon.c) and the models it loads apply to it.
 * event_router() itself is not reached: it needs a udev device and a loaded Host; see fuzz/README.md for
 * exactly what is. */

#include "fuzz.h"
#include "host.h"
#include "pci-function.h"
#include "store.h"
#include "tb-domain.h"
#include "util.h"

/* A fixed small model to look names up in, as event_router() does in the Host it loads. */
static PciFunction pci_gpu = { .bdf = (char *) "0000:30:00.0",
                               .syspath = (char *) "/sys/devices/pci0000:00/0000:00:1c.0/0000:30:00.0" };
static PciFunction pci_port = { .bdf = (char *) "0000:00:1c.0",
                                .syspath = (char *) "/sys/devices/pci0000:00/0000:00:1c.0" };
static TbDevice tb_host = { .name = (char *) "0-0", .host_router = true };
static TbDevice tb_dev = { .name = (char *) "0-1",
                           .unique_id = (char *) "c9030000-0060-6c18-a3e2-b17a03c1301e" };

static bool key_in(const char *key, const char *const *names) {
        for (; *names; names++)
                if (streq(key, *names))
                        return true;
        return false;
}
#define KEY_IN(key, ...) key_in((key), (const char *const[]){ __VA_ARGS__, NULL })

static void check_sysname(const Host *h, const char *sysname) {
        const PciFunction *f;
        const TbDevice *t;

        if (pci_bdf_is_valid(sysname)) {
                PciFunction tmp = { .bdf = (char *) sysname };
                fuzz_assert(pci_function_number(&tmp) <= 7);
        }
        f = host_find_pci(h, sysname);
        if (f)
                fuzz_assert(streq(f->bdf, sysname));
        t = host_find_tb_device(h, sysname);
        if (t)
                fuzz_assert(streq(t->name, sysname) || streq_ptr(t->unique_id, sysname));
}

static void check_unique_id(Enrollment **list, size_t n, const char *v) {
        bool valid = store_unique_id_valid(v);

        /* A unique_id that is a valid key can never name another file than <key>.conf. */
        if (valid) {
                fuzz_assert(store_key_valid(v));
                fuzz_assert(!strchr(v, '/') && !strchr(v, '.') && strlen(v) <= 64);
        }
        (void) enrollments_find(list, n, v);
}

static void check_string(const char *v) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        /* Device strings end up in JSON (utf8_sanitize) and in text and logs (str_printable). */
        (void) utf8_sanitize(v, &a);
        (void) str_printable(v, 256, &b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        PciFunction *pcis[] = { &pci_port, &pci_gpu };
        TbDevice *tbs[] = { &tb_host, &tb_dev };
        Host h = { .pci = pcis,
                   .n_pci = ELEMENTSOF(pcis),
                   .tb_devices = tbs,
                   .n_tb_devices = ELEMENTSOF(tbs) };
        Enrollment tb_rec = { .type = ENROLL_THUNDERBOLT, .unique_id = tb_dev.unique_id },
                   pci_rec = { .type = ENROLL_PCIE, .port = (char *) "pci0000:00/1c.0" };
        Enrollment *list[] = { &tb_rec, &pci_rec };
        _cleanup_free_ char *text = NULL;
        const char *action = NULL, *subsystem = NULL, *devtype = NULL;
        char *p;

        if (size > 64 * 1024)
                return 0;
        text = fuzz_string(data, size);
        /* Both separators: '\n' in sysfs uevent files, NUL in netlink messages. */
        for (size_t i = 0; i < size; i++)
                if (text[i] == 0)
                        text[i] = '\n';

        for (p = text; p && *p;) {
                char *nl = strchr(p, '\n'), *eq, *key, *value;

                if (nl)
                        *nl = 0;
                key = p;
                p = nl ? nl + 1 : NULL;
                eq = strchr(key, '=');
                if (!eq)
                        continue; /* the kernel's "ACTION@DEVPATH" header line */
                *eq = 0;
                value = eq + 1;
                check_string(value);

                if (streq(key, "ACTION"))
                        action = value;
                else if (streq(key, "SUBSYSTEM"))
                        subsystem = value;
                else if (streq(key, "DEVTYPE"))
                        devtype = value;
                else if (streq(key, "DEVPATH")) {
                        /* libudev's sysname: the last part of the path, '!' standing for '/'. */
                        _cleanup_free_ char *sysname = strdup(path_basename(value));
                        if (!sysname)
                                return 0;
                        for (char *c = sysname; *c; c++)
                                if (*c == '!')
                                        *c = '/';
                        check_sysname(&h, sysname);
                } else if (streq(key, "PCI_SLOT_NAME"))
                        check_sysname(&h, value);
                else if (KEY_IN(key, "unique_id", "UNIQUE_ID"))
                        check_unique_id(list, ELEMENTSOF(list), value);
                else if (KEY_IN(key, "security", "SECURITY"))
                        (void) tb_security_allows_pcie(tb_security_from_string(value));
                else if (KEY_IN(key, "vendor", "device", "class", "subsystem_vendor", "subsystem_device")) {
                        uint32_t u;
                        (void) safe_atou32(value, 16, &u);
                } else if (KEY_IN(key,
                                  "authorized",
                                  "generation",
                                  "boot",
                                  "rx_lanes",
                                  "tx_lanes",
                                  "iommu_dma_protection",
                                  "deauthorization",
                                  "current_link_width",
                                  "max_link_width",
                                  "iommu_group")) {
                        int i;
                        (void) safe_atoi(value, &i);
                } else if (streq(key, "reset_method")) {
                        _cleanup_strv_free_ char **l = NULL;
                        (void) strv_split(value, " \t\n", &l);
                } else if (streq(key, "port")) {
                        _cleanup_free_ char *k = NULL;
                        if (store_key_from_port(value, &k) >= 0) {
                                fuzz_assert(store_key_valid(k));
                                (void) enrollments_find_port(list, ELEMENTSOF(list), value);
                        }
                }
        }

        /* event_router()'s first test, on the strings as libudev hands them over. */
        if (!subsystem || !action || streq(action, "remove") || streq(action, "unbind"))
                return 0;
        if (streq(subsystem, "thunderbolt"))
                (void) streq_ptr(devtype, "thunderbolt_device");
        return 0;
}
