/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>

#include "egpu-reset.h"
#include "egpuctl.h"
#include "host.h"
#include "output.h"
#include "pci-bar.h"
#include "sysfs.h"
#include "util.h"

/* json_object_object_add() takes ownership even of NULL, which it stores as null; an allocation
 * failure inside is caught by checking the top object at the end. */
#define ADD(o, key, v) json_object_object_add((o), (key), (v))

static json_object *tb_domain_to_json(const TbDomain *d) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        ADD(o, "name", json_string_or_null(d->name));
        ADD(o, "nhi", json_string_or_null(d->nhi_bdf));
        ADD(o, "security", json_object_new_string(tb_security_to_string(d->security)));
        ADD(o, "pcie_tunnels_allowed", json_object_new_boolean(tb_security_allows_pcie(d->security)));
        ADD(o, "iommu_dma_protection", json_int_or_null(d->iommu_dma_protection));
        ADD(o, "deauthorization", json_int_or_null(d->deauthorization));
        return o;
}

static json_object *tb_device_to_json(const TbDevice *t, const Enrolled *enrolled) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        ADD(o, "name", json_string_or_null(t->name));
        ADD(o, "domain", json_string_or_null(t->domain ? t->domain->name : NULL));
        ADD(o, "parent", json_string_or_null(t->parent ? t->parent->name : NULL));
        ADD(o, "host_router", json_object_new_boolean(t->host_router));
        ADD(o, "unique_id", json_string_or_null(t->unique_id));
        ADD(o, "vendor_id", json_hex16(t->vendor));
        ADD(o, "device_id", json_hex16(t->device));
        ADD(o, "vendor_name", json_string_or_null(t->vendor_name));
        ADD(o, "device_name", json_string_or_null(t->device_name));
        ADD(o, "names_from_ids", json_object_new_boolean(t->names_from_ids));
        ADD(o, "authorized", json_int_or_null(t->authorized));
        ADD(o, "generation", json_int_or_null(t->generation));
        ADD(o, "rx_speed", json_string_or_null(t->rx_speed));
        ADD(o, "tx_speed", json_string_or_null(t->tx_speed));
        ADD(o, "rx_lanes", json_int_or_null(t->rx_lanes));
        ADD(o, "tx_lanes", json_int_or_null(t->tx_lanes));
        ADD(o, "boot", json_int_or_null(t->boot));
        ADD(o,
            "enrolled",
            t->host_router ? NULL : json_object_new_boolean(tb_device_is_enrolled(t, enrolled)));
        return o;
}

static json_object *strv_to_json(char **l) {
        json_object *a;

        if (!l)
                return json_object_new_null();
        a = json_object_new_array();
        if (!a)
                return NULL;
        STRV_FOREACH(s, l)
                json_object_array_add(a, json_string_or_null(*s));
        return a;
}

/* A function's driver_override to show: NULL when none, or when the kernel does not show it within a second
 * (it shows it under the device's lock, which a removal that waits for a VM holds). */
static char *show_override(const PciFunction *f) {
        char *v = NULL;

        return pci_function_read_driver_override(f->bdf, USEC_PER_SEC, &v) >= 0 ? v : NULL;
}

/* The BARs as the kernel's "resource" shows them, with the sizes a Resizable BAR supports
 * (resourceN_resize, pci-bar.h); null when sysfs shows no "resource". */
static json_object *bars_to_json(const PciFunction *f) {
        _cleanup_free_ PciBar *bars = NULL;
        json_object *a;
        size_t n = 0;

        if (pci_function_read_bars(f, &bars, &n) < 0)
                return json_object_new_null();
        a = json_object_new_array();
        if (!a)
                return NULL;
        FOREACH_ARRAY(b, bars, n) {
                json_object *o = json_object_new_object(), *sizes = NULL;

                if (!o)
                        break;
                ADD(o, "index", json_object_new_int((int) b->index));
                ADD(o, "size", json_object_new_uint64(b->size));
                ADD(o, "memory", json_object_new_boolean(b->flags & PCI_IORESOURCE_MEM));
                ADD(o, "prefetchable", json_object_new_boolean(b->flags & PCI_IORESOURCE_PREF));
                ADD(o, "64bit", json_object_new_boolean(b->flags & PCI_IORESOURCE_MEM_64));
                if (b->resizable_sizes) {
                        sizes = json_object_new_array();
                        for (unsigned bit = 0; sizes && bit <= PCI_REBAR_MAX_BIT; bit++)
                                if (b->resizable_sizes & (UINT64_C(1) << bit))
                                        json_object_array_add(
                                                sizes,
                                                json_object_new_uint64(PCI_REBAR_MIN_SIZE << bit));
                }
                ADD(o, "resizable_sizes", sizes ?: json_object_new_null());
                json_object_array_add(a, o);
        }
        return a;
}

/* How QEMU will reset the function, from sysfs (status opens nothing): egpu-reset.h. */
static json_object *reset_to_json(const EgpuFunctionReset *r) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        ADD(o, "verdict", json_object_new_string(egpu_reset_verdict_to_string(r->verdict)));
        ADD(o, "needs_bus_reset", json_object_new_boolean(r->needs_bus_reset));
        /* null when no bus or slot reset reaches the function */
        ADD(o,
            "hot_reset_set",
            r->hot_reset == 0 ? strv_to_json(r->hot_reset_set ?: (char *[]){ NULL }) : NULL);
        ADD(o, "outside_devices", strv_to_json(r->outside ?: (char *[]){ NULL }));
        return o;
}

static json_object *pci_function_to_json(const PciFunction *f, const EgpuFunctionReset *reset) {
        _cleanup_free_ char *override = show_override(f);
        json_object *o = json_object_new_object(), *link = json_object_new_object();
        char class[sizeof("ffffff")];

        if (!o || !link) {
                json_object_put(o);
                json_object_put(link);
                return NULL;
        }
        snprintf(class, sizeof(class), "%06x", f->class & 0xffffff);
        ADD(o, "bdf", json_string_or_null(f->bdf));
        ADD(o, "vendor_id", json_hex16(f->vendor));
        ADD(o, "device_id", json_hex16(f->device));
        ADD(o, "subsystem_vendor_id", json_hex16(f->subsystem_vendor));
        ADD(o, "subsystem_device_id", json_hex16(f->subsystem_device));
        ADD(o, "class", json_object_new_string(class));
        ADD(o, "vendor_name", json_string_or_null(f->vendor_name));
        ADD(o, "model_name", json_string_or_null(f->model_name));
        ADD(o, "driver", json_string_or_null(f->driver));
        ADD(o, "driver_override", json_string_or_null(override));
        ADD(o, "iommu_group", json_int_or_null(f->iommu_group));
        ADD(o, "reset_methods", strv_to_json(f->reset_methods));
        ADD(o, "reset", reset ? reset_to_json(reset) : NULL);
        ADD(o,
            "power_state",
            f->power_state == PCI_POWER_UNKNOWN
                    ? NULL
                    : json_object_new_string(pci_power_state_to_string(f->power_state)));
        ADD(o, "d3cold_allowed", f->d3cold_allowed < 0 ? NULL : json_object_new_boolean(f->d3cold_allowed));
        ADD(o, "removable", json_object_new_string(pci_removable_to_string(f->removable)));
        ADD(link, "current_speed", json_string_or_null(f->current_link_speed));
        ADD(link, "current_width", json_int_or_null(f->current_link_width));
        ADD(link, "max_speed", json_string_or_null(f->max_link_speed));
        ADD(link, "max_width", json_int_or_null(f->max_link_width));
        ADD(o, "link", link);
        ADD(o, "bars", bars_to_json(f));
        return o;
}

static json_object *group_to_json(const Egpu *e, const IommuGroup *g) {
        json_object *o = json_object_new_object(), *members = json_object_new_array();

        if (!o || !members) {
                json_object_put(o);
                json_object_put(members);
                return NULL;
        }
        ADD(o, "id", json_object_new_int(g->id));
        ADD(o, "viable", json_object_new_boolean(iommu_group_is_viable(g)));
        FOREACH_ARRAY(m, g->members, g->n_members) {
                json_object *mo = json_object_new_object();
                if (!mo)
                        continue;
                ADD(mo, "bdf", json_string_or_null((*m)->bdf));
                ADD(mo, "driver", json_string_or_null((*m)->driver));
                ADD(mo, "bridge", json_object_new_boolean(pci_function_is_bridge(*m)));
                ADD(mo, "egpu_function", json_object_new_boolean(egpu_has_function(e, *m)));
                json_object_array_add(members, mo);
        }
        ADD(o, "members", members);
        return o;
}

static json_object *egpu_to_json(const Host *h, const Egpu *e, const Enrolled *enrolled) {
        _cleanup_(egpu_reset_done) EgpuReset reset = {};
        const Enrollment *rec = enrolled_find_egpu(enrolled, e);
        json_object *o = json_object_new_object(), *functions = json_object_new_array(),
                    *groups = json_object_new_array();

        if (!o || !functions || !groups || egpu_reset_check(h, e, NULL, 0, &reset) < 0) {
                json_object_put(o);
                json_object_put(functions);
                json_object_put(groups);
                return NULL;
        }
        ADD(o, "bdf", json_string_or_null(e->gpu->bdf));
        ADD(o, "vendor_id", json_hex16(e->gpu->vendor));
        ADD(o, "device_id", json_hex16(e->gpu->device));
        ADD(o, "subsystem_vendor_id", json_hex16(e->gpu->subsystem_vendor));
        ADD(o, "subsystem_device_id", json_hex16(e->gpu->subsystem_device));
        /* As udev's hwdb names the ids (lspci's names), null when udev has no name. */
        ADD(o, "vendor_name", json_string_or_null(e->gpu->vendor_name));
        ADD(o, "model_name", json_string_or_null(e->gpu->model_name));
        ADD(o, "kind", json_object_new_string(e->port ? "pcie" : "thunderbolt"));
        ADD(o, "port", json_string_or_null(e->port));
        ADD(o, "thunderbolt_device", json_string_or_null(e->tb_device ? e->tb_device->name : NULL));
        ADD(o, "thunderbolt_unique_id", json_string_or_null(e->tb_device ? e->tb_device->unique_id : NULL));
        ADD(o, "root_port", json_string_or_null(pci_function_root_port(e->gpu)->bdf));
        for (size_t i = 0; i < e->n_functions; i++)
                json_object_array_add(functions, pci_function_to_json(e->functions[i], &reset.functions[i]));
        ADD(o, "functions", functions);
        FOREACH_ARRAY(g, e->groups, e->n_groups)
                json_object_array_add(groups, group_to_json(e, *g));
        ADD(o, "groups", groups);
        ADD(o, "groups_viable", json_object_new_boolean(e->groups_viable));
        ADD(o, "groups_isolated", json_object_new_boolean(e->groups_isolated));
        ADD(o, "reset_ok", json_object_new_boolean(egpu_reset_ok(&reset)));
        /* the VM its record names (enroll --vm, vm attach): null when none */
        ADD(o, "vm", json_string_or_null(rec ? rec->vm : NULL));
        ADD(o, "qmp", json_string_or_null(rec ? rec->qmp : NULL));
        /* a PCIe eGPU is one only because its port is enrolled; a Thunderbolt one's router may not be */
        ADD(o,
            "enrolled",
            json_object_new_boolean(
                    e->port || (e->tb_device && tb_device_is_enrolled(e->tb_device, enrolled))));
        return o;
}

static int status_json(const Host *h, const Enrolled *enrolled) {
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        json_object *iommu = json_object_new_object(), *tb = json_object_new_object(),
                    *domains = json_object_new_array(), *devices = json_object_new_array(),
                    *gpus = json_object_new_array();

        if (!root || !iommu || !tb || !domains || !devices || !gpus) {
                json_object_put(iommu);
                json_object_put(tb);
                json_object_put(domains);
                json_object_put(devices);
                json_object_put(gpus);
                return -ENOMEM;
        }
        ADD(iommu, "active", json_object_new_boolean(host_iommu_active(h)));
        ADD(iommu, "units", json_object_new_int((int) h->n_iommu_units));
        ADD(iommu, "groups", json_object_new_int((int) h->n_groups));
        ADD(root, "iommu", iommu);

        FOREACH_ARRAY(d, h->domains, h->n_domains)
                json_object_array_add(domains, tb_domain_to_json(*d));
        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices)
                json_object_array_add(devices, tb_device_to_json(*t, enrolled));
        ADD(tb, "domains", domains);
        ADD(tb, "devices", devices);
        ADD(root, "thunderbolt", tb);

        FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                json_object_array_add(gpus, egpu_to_json(h, *e, enrolled));
        ADD(root, "gpus", gpus);

        return json_print(root);
}

static const char *yes_no(int v) {
        return v < 0 ? "-" : v ? "yes" : "no";
}

static char *ids(uint32_t vendor, uint32_t device) {
        char *s;
        return asprintf(&s, "%04x:%04x", vendor, device) < 0 ? NULL : s;
}

static char *fmt_int(int v) {
        char *s;
        if (v < 0)
                return strdup("-");
        return asprintf(&s, "%d", v) < 0 ? NULL : s;
}

static int status_text_thunderbolt(const Host *h, const Enrolled *enrolled) {
        _cleanup_(table_freep) Table *domains = table_new(5), *devices = table_new(7);
        int r;

        if (!domains || !devices)
                return -ENOMEM;
        if (h->n_domains == 0) {
                printf("Thunderbolt: no domains (no Thunderbolt/USB4 controller, or the driver is not "
                       "loaded)\n");
                return 0;
        }
        printf("%sThunderbolt domains%s\n", ansi_bold(), ansi_normal());
        r = table_add_row(domains, "DOMAIN", "NHI", "SECURITY", "DMA PROTECTION", "DEAUTHORIZATION");
        if (r < 0)
                return r;
        FOREACH_ARRAY(d, h->domains, h->n_domains) {
                r = table_add_row(
                        domains,
                        (*d)->name,
                        (*d)->nhi_bdf,
                        tb_security_to_string((*d)->security),
                        yes_no((*d)->iommu_dma_protection),
                        yes_no((*d)->deauthorization));
                if (r < 0)
                        return r;
        }
        table_print(domains, stdout, 2, true);

        printf("\n%sThunderbolt devices%s\n", ansi_bold(), ansi_normal());
        r = table_add_row(devices, "NAME", "VENDOR", "DEVICE", "AUTHORIZED", "GEN", "SPEED", "UNIQUE ID");
        if (r < 0)
                return r;
        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices) {
                _cleanup_free_ char *auth = fmt_int((*t)->authorized), *gen = fmt_int((*t)->generation),
                                    *speed = NULL;

                if ((*t)->rx_speed && asprintf(&speed, "%s x%d", (*t)->rx_speed, MAX((*t)->rx_lanes, 0)) < 0)
                        return -ENOMEM;
                r = table_add_row(
                        devices,
                        (*t)->name,
                        (*t)->vendor_name,
                        (*t)->device_name,
                        (*t)->host_router ? "host" : auth,
                        gen,
                        speed,
                        (*t)->unique_id);
                if (r < 0)
                        return r;
        }
        table_print(devices, stdout, 2, true);
        if (print_not_enrolled(stdout, h, enrolled, "  ") > 0)
                printf("  (egpuctl authorizes and attaches enrolled devices only)\n");
        return 0;
}

/* One line per BAR that is smaller than the largest size it supports; attach grows it where the bridge
 * window has room (doctor's bar-size check says what stops it). */
static void status_text_bars(const Egpu *e) {
        FOREACH_ARRAY(f, e->functions, e->n_functions) {
                _cleanup_free_ PciBar *bars = NULL;
                size_t n = 0;

                if (pci_function_read_bars(*f, &bars, &n) < 0)
                        continue;
                FOREACH_ARRAY(b, bars, n) {
                        char now[FORMAT_BYTES_MAX], most[FORMAT_BYTES_MAX];

                        if (b->size >= pci_rebar_sizes_max(b->resizable_sizes))
                                continue;
                        printf("  BAR %u of %s: %s, resizable up to %s\n",
                               b->index,
                               (*f)->bdf,
                               format_bytes(now, sizeof(now), b->size),
                               format_bytes(most, sizeof(most), pci_rebar_sizes_max(b->resizable_sizes)));
                }
        }
}

static int status_text_egpu(const Host *h, const Egpu *e, const Enrollment *rec) {
        _cleanup_(table_freep) Table *t = table_new(7);
        _cleanup_(egpu_reset_done) EgpuReset qemu = {};
        _cleanup_free_ char *gpu_ids = ids(e->gpu->vendor, e->gpu->device);
        char *name_p, *dev_p;
        int r;

        if (!t)
                return -ENOMEM;
        printf("\n%seGPU %s%s  %s", ansi_bold(), e->gpu->bdf, ansi_normal(), strna(gpu_ids));
        if (e->gpu->model_name) {
                /* udev's hwdb, as lspci shows it */
                name_p = printable(e->gpu->model_name);
                printf(" %s", name_p);
                printable_free(name_p);
        }
        if (e->port)
                printf("  PCIe-attached, enrolled port %s\n", e->port);
        else if (e->tb_device) {
                name_p = printable(e->tb_device->vendor_name);
                dev_p = printable(e->tb_device->device_name);
                printf("  behind Thunderbolt device %s (%s %s)\n", e->tb_device->name, name_p, dev_p);
                printable_free(name_p);
                printable_free(dev_p);
        } else
                printf("  behind root port %s (Thunderbolt device not certain)\n",
                       pci_function_root_port(e->gpu)->bdf);
        if (rec && (rec->vm || rec->qmp)) {
                name_p = printable(rec->vm ?: rec->qmp);
                printf("  belongs to %s %s\n", rec->vm ? "VM" : "the VM at", name_p);
                printable_free(name_p);
        }

        r = table_add_row(t, "FUNCTION", "IDS", "CLASS", "DRIVER", "GROUP", "RESET", "POWER");
        if (r < 0)
                return r;
        FOREACH_ARRAY(f, e->functions, e->n_functions) {
                _cleanup_free_ char *fids = ids((*f)->vendor, (*f)->device),
                                    *group = fmt_int((*f)->iommu_group), *class = NULL, *reset = NULL,
                                    *driver = NULL, *override = NULL;

                if (asprintf(&class, "%06x", (*f)->class) < 0)
                        return -ENOMEM;
                if ((*f)->reset_methods) {
                        size_t len = 1;
                        STRV_FOREACH(m, (*f)->reset_methods)
                                len += strlen(*m) + 1;
                        reset = calloc(1, len);
                        if (!reset)
                                return -ENOMEM;
                        STRV_FOREACH(m, (*f)->reset_methods) {
                                if (*reset)
                                        strcat(reset, ",");
                                strcat(reset, *m);
                        }
                }
                override = show_override(*f);
                if (override && asprintf(&driver, "%s (override %s)", strna((*f)->driver), override) < 0)
                        return -ENOMEM;
                r = table_add_row(
                        t,
                        (*f)->bdf,
                        fids,
                        class,
                        driver ?: (*f)->driver ?: "(none)",
                        group,
                        reset ?: "(none)",
                        (*f)->power_state == PCI_POWER_UNKNOWN ? "-"
                                                               : pci_power_state_to_string((*f)->power_state));
                if (r < 0)
                        return r;
        }
        table_print(t, stdout, 2, true);

        printf("  IOMMU groups: ");
        if (e->n_groups == 0)
                printf("none");
        FOREACH_ARRAY(g, e->groups, e->n_groups)
                printf("%s%d", g == e->groups ? "" : ", ", (*g)->id);
        printf(" (%s%s%s, %s)\n",
               e->groups_viable ? ansi_green() : ansi_red(),
               e->groups_viable ? "viable" : "not viable",
               ansi_normal(),
               e->groups_isolated ? "isolated" : "shared with other devices");
        status_text_bars(e);

        /* How QEMU will reset each function at the next VM's start (egpu-reset.h), read from sysfs. */
        r = egpu_reset_check(h, e, NULL, 0, &qemu);
        if (r < 0)
                return r;
        printf("  QEMU's reset: %s%s%s",
               egpu_reset_ok(&qemu) ? ansi_green() : ansi_red(),
               egpu_reset_ok(&qemu) ? "ok" : "fails",
               ansi_normal());
        FOREACH_ARRAY(f, qemu.functions, qemu.n_functions) {
                _cleanup_free_ char *what = NULL;

                r = egpu_function_reset_describe(f, &what);
                if (r < 0)
                        return r;
                printf("%s%s %s", f == qemu.functions ? " (" : "; ", f->function->bdf, what);
        }
        printf(")%s\n", egpu_reset_ok(&qemu) ? "" : "; egpuctl doctor says what to do");
        return 0;
}

static int status_text(const Host *h, const Enrolled *enrolled) {
        int r;

        printf("%sIOMMU%s: %s (%zu units, %zu groups)\n\n",
               ansi_bold(),
               ansi_normal(),
               host_iommu_active(h) ? "active" : "not active",
               h->n_iommu_units,
               h->n_groups);
        r = status_text_thunderbolt(h, enrolled);
        if (r < 0)
                return r;
        if (h->n_egpus == 0)
                printf("\nNo eGPU: no display function behind a Thunderbolt/USB4 tunnel or below an "
                       "enrolled "
                       "PCIe port.\n");
        FOREACH_ARRAY(e, h->egpus, h->n_egpus) {
                r = status_text_egpu(h, *e, enrolled_find_egpu(enrolled, *e));
                if (r < 0)
                        return r;
        }
        return 0;
}

int verb_status(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        int r;

        r = verb_parse("status", argc, argv, options, NULL, NULL);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;

        /* Without the store, Thunderbolt eGPUs still show; they are then all "not enrolled". */
        (void) enrolled_load_verbose(&enrolled, NULL);
        if (host_load_verbose(&enrolled, &udev, &h) < 0)
                return EXIT_PROBLEM;
        r = arg_global.json ? status_json(h, &enrolled) : status_text(h, &enrolled);
        if (r < 0)
                return log_error_errno(r, "Failed to print the status: %m"), EXIT_PROBLEM;
        return EXIT_OK;
}
