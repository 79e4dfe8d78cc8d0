/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <stddef.h>

#include "host.h"
#include "sysfs.h"
#include "util.h"

/* Frees what is built from the devices, the eGPUs and the groups: it points into them, so it goes first.
 * Their arrays stay, empty. */
static void drop_built(Host *h) {
        for (size_t i = 0; i < h->n_egpus; i++)
                egpu_free(h->egpus[i]);
        h->n_egpus = 0;
        for (size_t i = 0; i < h->n_groups; i++)
                iommu_group_free(h->groups[i]);
        h->n_groups = 0;
}

Host *host_free(Host *h) {
        if (!h)
                return NULL;
        drop_built(h);
        free(h->egpus);
        free(h->groups);
        for (size_t i = 0; i < h->n_pci; i++)
                pci_function_free(h->pci[i]);
        free(h->pci);
        for (size_t i = 0; i < h->n_tb_devices; i++)
                tb_device_free(h->tb_devices[i]);
        free(h->tb_devices);
        for (size_t i = 0; i < h->n_domains; i++)
                tb_domain_free(h->domains[i]);
        free(h->domains);
        return mfree(h);
}

/* Appends p to a growing array of pointers, of *n in room for *allocated, doubling the room when needed. */
static int array_push(void *array, size_t *n, size_t *allocated, void *p) {
        void ***a = array;

        if (array_reserve((void **) a, allocated, *n + 1, sizeof(void *)) < 0)
                return -ENOMEM;
        (*a)[(*n)++] = p;
        return 0;
}

static int enumerate(struct udev *udev, const char *subsystem, struct udev_enumerate **ret) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        int r;

        e = udev_enumerate_new(udev);
        if (!e)
                return negative_errno();
        r = udev_enumerate_add_match_subsystem(e, subsystem);
        if (r < 0)
                return r;
        r = udev_enumerate_scan_devices(e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

/* Adds a Thunderbolt domain or router read from d; other thunderbolt devices (services) are skipped. */
static int add_thunderbolt(Host *h, struct udev_device *d) {
        const char *devtype = udev_device_get_devtype(d);
        int r;

        if (streq_ptr(devtype, "thunderbolt_domain")) {
                if (ARRAY_RESERVE(h->domains, h->n_domains_allocated, h->n_domains + 1) < 0)
                        return -ENOMEM;
                r = tb_domain_new_from_udev(d, &h->domains[h->n_domains]);
                if (r < 0)
                        return r;
                h->n_domains++;
        } else if (streq_ptr(devtype, "thunderbolt_device")) {
                if (ARRAY_RESERVE(h->tb_devices, h->n_tb_devices_allocated, h->n_tb_devices + 1) < 0)
                        return -ENOMEM;
                r = tb_device_new_from_udev(d, &h->tb_devices[h->n_tb_devices]);
                if (r < 0)
                        return r;
                h->n_tb_devices++;
        }
        return 0;
}

static int add_pci(Host *h, struct udev_device *d) {
        int r;

        if (ARRAY_RESERVE(h->pci, h->n_pci_allocated, h->n_pci + 1) < 0)
                return -ENOMEM;
        r = pci_function_new_from_udev(d, &h->pci[h->n_pci]);
        if (r < 0)
                return r;
        h->n_pci++;
        return 0;
}

/* Enumerates the devices of subsystem and hands each one still present to add(). */
static int load_subsystem(
        Host *h,
        struct udev *udev,
        const char *subsystem,
        int (*add)(Host *h, struct udev_device *d)) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        struct udev_list_entry *entry;
        int r;

        r = enumerate(udev, subsystem, &e);
        if (r < 0)
                return r;
        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;

                d = udev_device_new_from_syspath(udev, udev_list_entry_get_name(entry));
                if (!d)
                        continue; /* gone since the scan */
                r = add(h, d);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_iommu_units(Host *h, struct udev *udev) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        struct udev_list_entry *entry;
        int r;

        r = enumerate(udev, "iommu", &e);
        if (r < 0)
                return r;
        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) h->n_iommu_units++;
        return 0;
}

static int cmp_pci_syspath(const void *a, const void *b) {
        return strcmp((*(PciFunction *const *) a)->syspath, (*(PciFunction *const *) b)->syspath);
}

static int cmp_tb_syspath(const void *a, const void *b) {
        return strcmp((*(TbDevice *const *) a)->syspath, (*(TbDevice *const *) b)->syspath);
}

static int cmp_group(const void *a, const void *b) {
        int x = (*(IommuGroup *const *) a)->id, y = (*(IommuGroup *const *) b)->id;
        return (x > y) - (x < y);
}

static int cmp_egpu(const void *a, const void *b) {
        return strcmp((*(Egpu *const *) a)->gpu->bdf, (*(Egpu *const *) b)->gpu->bdf);
}

/* The element of array, n pointers sorted by cmp, that cmp finds equal to key (a pointer of their type), or
 * NULL. */
#define FIND_SORTED(key, array, n, cmp)                                                          \
        ({                                                                                       \
                __typeof__(array) _found_ =                                                      \
                        (n) > 0 ? bsearch(&(key), (array), (n), sizeof(*(array)), (cmp)) : NULL; \
                _found_ ? *_found_ : NULL;                                                       \
        })

PciFunction *host_find_pci_by_syspath(const Host *h, const char *syspath) {
        PciFunction key = { .syspath = (char *) syspath }, *k = &key;

        return FIND_SORTED(k, h->pci, h->n_pci, cmp_pci_syspath);
}

TbDevice *host_find_tb_device_by_syspath(const Host *h, const char *syspath) {
        TbDevice key = { .syspath = (char *) syspath }, *k = &key;

        return FIND_SORTED(k, h->tb_devices, h->n_tb_devices, cmp_tb_syspath);
}

PciFunction *host_find_pci(const Host *h, const char *bdf) {
        FOREACH_ARRAY(f, h->pci, h->n_pci)
                if (streq((*f)->bdf, bdf))
                        return *f;
        return NULL;
}

TbDevice *host_find_tb_device(const Host *h, const char *name_or_uuid) {
        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices)
                if (streq((*t)->name, name_or_uuid) || streq_ptr((*t)->unique_id, name_or_uuid))
                        return *t;
        return NULL;
}

IommuGroup *host_find_group(const Host *h, int id) {
        IommuGroup key = { .id = id }, *k = &key;

        return FIND_SORTED(k, h->groups, h->n_groups, cmp_group);
}

Egpu *host_find_egpu_of_port(const Host *h, const char *port) {
        FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                if (streq_ptr((*e)->port, port))
                        return *e;
        return NULL;
}

Egpu *host_find_egpu_of(const Host *h, const PciFunction *f) {
        FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                if (egpu_has_function(*e, f))
                        return *e;
        return NULL;
}

bool host_iommu_active(const Host *h) {
        return h->n_iommu_units > 0 || h->n_groups > 0;
}

/* The folder above path, as a new string. */
static char *parent_path(const char *path) {
        const char *slash = strrchr(path, '/');
        return slash ? strndup(path, (size_t) (slash - path)) : NULL;
}

static int link_pci_parents(Host *h) {
        if (h->n_pci > 0)
                qsort(h->pci, h->n_pci, sizeof(PciFunction *), cmp_pci_syspath);
        FOREACH_ARRAY(f, h->pci, h->n_pci) {
                _cleanup_free_ char *up = parent_path((*f)->syspath);

                if (!up)
                        return -ENOMEM;
                (*f)->parent = host_find_pci_by_syspath(h, up);
        }
        return 0;
}

static int link_tb_parents(Host *h) {
        if (h->n_tb_devices > 0)
                qsort(h->tb_devices, h->n_tb_devices, sizeof(TbDevice *), cmp_tb_syspath);
        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices) {
                _cleanup_free_ char *up = parent_path((*t)->syspath);

                if (!up)
                        return -ENOMEM;
                (*t)->parent = host_find_tb_device_by_syspath(h, up);
                (*t)->domain = NULL;
                FOREACH_ARRAY(d, h->domains, h->n_domains) {
                        size_t l = strlen((*d)->syspath);
                        if (strneq((*t)->syspath, (*d)->syspath, l) && (*t)->syspath[l] == '/')
                                (*t)->domain = *d;
                }
        }
        return 0;
}

/* Orders slots of h->pci by group, then by place, so that members keep the order of h->pci. */
static int cmp_slot_group(const void *a, const void *b) {
        PciFunction **x = *(PciFunction * *const *) a, **y = *(PciFunction * *const *) b;

        if ((*x)->iommu_group != (*y)->iommu_group)
                return (*x)->iommu_group < (*y)->iommu_group ? -1 : 1;
        return (x > y) - (x < y);
}

/* Sorts the functions by group (an index of slots, O(n log n)) rather than looking each one's group up,
 * which was quadratic in the groups when the functions do not come in group order. The groups are made
 * in the order of their ids, as host_find_group()'s bsearch() wants. */
static int build_groups(Host *h) {
        _cleanup_free_ PciFunction ***slots = NULL; /* slots of h->pci */
        size_t n = 0;
        int r;

        if (h->n_pci == 0)
                return 0;
        slots = calloc(h->n_pci, sizeof(PciFunction **));
        if (!slots)
                return -ENOMEM;
        FOREACH_ARRAY(f, h->pci, h->n_pci)
                if ((*f)->iommu_group >= 0)
                        slots[n++] = f;
        if (n == 0)
                return 0;
        qsort(slots, n, sizeof(PciFunction **), cmp_slot_group);

        for (size_t i = 0; i < n; i++) {
                PciFunction *f = *slots[i];
                IommuGroup *g = h->n_groups > 0 ? h->groups[h->n_groups - 1] : NULL;

                if (!g || g->id != f->iommu_group) {
                        g = calloc(1, sizeof(IommuGroup));
                        if (!g)
                                return -ENOMEM;
                        g->id = f->iommu_group;
                        r = array_push(&h->groups, &h->n_groups, &h->n_groups_allocated, g);
                        if (r < 0) {
                                free(g);
                                return r;
                        }
                }
                r = iommu_group_add_member(g, f);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The NHI that the root port is linked to by a device link ("supplier:pci:0000:00:0d.3"), which the
 * thunderbolt driver creates, the NHI the supplier, for each root port or xHCI whose ACPI node's
 * "usb4-host-interface" names that NHI (drivers/thunderbolt/acpi.c tb_acpi_add_link(), torvalds/linux
 * 58bcac11fd94, lines 14-101). NULL when there is none. */
static int root_port_nhi(const PciFunction *root, char **ret) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        d = opendir(root->syspath);
        if (!d)
                return negative_errno();
        while ((de = readdir(d)))
                if (strneq(de->d_name, "supplier:pci:", 13)) {
                        char *s = strdup(de->d_name + 13);
                        if (!s)
                                return -ENOMEM;
                        *ret = s;
                        return 1;
                }
        *ret = NULL;
        return 0;
}

/* The index of root among the root ports linked to the NHI nhi_bdf, in the order of their addresses
 * (root NULL: how many there are); -ENOENT when root is not one of them. */
static int linked_root_port_index(const Host *h, const PciFunction *root, const char *nhi_bdf) {
        int i = 0;

        FOREACH_ARRAY(f, h->pci, h->n_pci) {
                _cleanup_free_ char *nhi = NULL;

                if ((*f)->parent || !pci_function_is_bridge(*f))
                        continue;
                if (root_port_nhi(*f, &nhi) <= 0 || !streq(nhi, nhi_bdf))
                        continue;
                if (*f == root)
                        return i;
                i++;
        }
        return root ? -ENOENT : i;
}

bool host_tb_device_placeable(const Host *h, const TbDevice *t) {
        return t->domain && t->domain->nhi_bdf && linked_root_port_index(h, NULL, t->domain->nhi_bdf) > 0;
}

/* How many hops below the host router: 1 for "1-1", 2 for "1-301". */
static unsigned route_depth(uint64_t route) {
        unsigned n = 0;

        for (; route; route >>= 8)
                n++;
        return n;
}

/* Of the display functions below root, one per slot, how many sit higher than gpu (fewer bridges above
 * it): gpu's place in the chain. Sets *ret_n to how many there are. */
static unsigned gpu_rank_below(
        const Host *h,
        const PciFunction *root,
        const PciFunction *gpu,
        unsigned *ret_n) {
        unsigned rank = 0, n = 0;

        FOREACH_ARRAY(f, h->pci, h->n_pci) {
                unsigned depth_f = 0, depth_gpu = 0;

                if (!pci_function_is_display(*f) || pci_function_root_port(*f) != root || *f == root)
                        continue;
                if (*f != gpu && pci_function_same_slot(*f, gpu))
                        continue;
                n++;
                for (const PciFunction *x = *f; x; x = x->parent)
                        depth_f++;
                for (const PciFunction *x = gpu; x; x = x->parent)
                        depth_gpu++;
                if (depth_f < depth_gpu)
                        rank++;
        }
        *ret_n = n;
        return rank;
}

/* Finds the router whose PCIe tunnel the function is behind, where the topology makes it certain:
 * the only connected device of the machine, or the only one in the domain of the NHI that the root port
 * is linked to. With several in that domain, the kernel's own mapping decides: the host router's USB4
 * port P tunnels PCIe through its ((P - 1) / 2)-th PCIe downstream adapter (torvalds/linux:
 * drivers/thunderbolt/tb.c tb_find_pcie_down() at 9d4d8572a539, lines 748-795; on a USB4 router
 * drivers/thunderbolt/usb4.c usb4_switch_map_pcie_down() at 254a14200711, lines 975-994, takes the PCIe
 * downstream adapter whose place among them is the port's among the lane-0 adapters, usb4_port_idx();
 * on a Thunderbolt 3 host router, a table indexed by include/linux/thunderbolt.h tb_phy_port_from_link()
 * at ea6bb47fd6a4, (link - 1) / 2), which on an
 * integrated host router is that root port of the ones linked to the NHI, by address (Intel's tests map
 * 1-1 to 0000:00:07.2 and 1-3 to 0000:00:07.3). Routers daisy-chained on one port are a chain whose
 * tunnels nest (each below its parent's controller), so the n-th router down the chain has the n-th
 * highest eGPU below the root port, when the chain has as many eGPUs as routers. Anything else, and
 * several devices without links, give NULL. */
static TbDevice *find_tunnel_router(const Host *h, const PciFunction *gpu, const char *nhi_bdf) {
        const PciFunction *root = pci_function_root_port(gpu);
        TbDevice *found = NULL, *chain[8];
        unsigned n_chain = 0, n = 0, rank, n_gpus;
        int port_index;

        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices) {
                if (!tb_device_is_connected_device(*t))
                        continue;
                if (nhi_bdf && (!(*t)->domain || !streq_ptr((*t)->domain->nhi_bdf, nhi_bdf)))
                        continue;
                found = *t;
                n++;
        }
        if (n <= 1 || !nhi_bdf)
                return n == 1 ? found : NULL;

        port_index = linked_root_port_index(h, root, nhi_bdf);
        if (port_index < 0)
                return NULL;
        /* tb_devices is sorted by syspath: a parent before the routers below it. */
        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices) {
                uint64_t route;

                if (!tb_device_is_connected_device(*t) || !(*t)->domain ||
                    !streq_ptr((*t)->domain->nhi_bdf, nhi_bdf) || tb_device_route(*t, &route) < 0)
                        continue;
                if ((route & 0xff) == 0 || (int) (((route & 0xff) - 1) / 2) != port_index)
                        continue;
                /* One chain: each router below the one before it. */
                if (n_chain >= ELEMENTSOF(chain) || route_depth(route) != n_chain + 1 ||
                    (n_chain > 0 && (*t)->parent != chain[n_chain - 1]))
                        return NULL;
                chain[n_chain++] = *t;
        }
        if (n_chain == 1)
                return chain[0];
        rank = gpu_rank_below(h, root, gpu, &n_gpus);
        return n_chain > 1 && n_gpus == n_chain ? chain[rank] : NULL;
}

static bool port_matches(const PciePort *p, const PciFunction *f, const char *port) {
        return streq(p->port, port) && p->vendor == f->vendor && p->device == f->device &&
                (!p->has_subsystem ||
                 (p->subsystem_vendor == f->subsystem_vendor && p->subsystem_device == f->subsystem_device));
}

/* The enrolled port the display function sits below with the enrolled ids: NULL when none. */
static int find_pcie_port(const PciFunction *gpu, const PciePort *ports, size_t n_ports, char **ret) {
        _cleanup_free_ char *port = NULL;
        int r;

        *ret = NULL;
        if (n_ports == 0 || !gpu->parent)
                return 0;
        r = pci_function_port_path(gpu, &port);
        if (r < 0)
                return r == -EINVAL ? 0 : r;
        FOREACH_ARRAY(p, ports, n_ports)
                if (port_matches(p, gpu, port)) {
                        *ret = TAKE_PTR(port);
                        return 1;
                }
        return 0;
}

static int build_egpu(Host *h, PciFunction *gpu, const PciePort *ports, size_t n_ports) {
        _cleanup_(egpu_freep) Egpu *e = NULL;
        _cleanup_free_ char *nhi = NULL, *port = NULL;
        size_t functions_allocated = 0, groups_allocated = 0;
        const PciFunction *root;
        int r;

        root = pci_function_root_port(gpu);
        if (root != gpu) {
                r = root_port_nhi(root, &nhi);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        if (!pci_function_is_removable(gpu) && !nhi) {
                /* Not behind a tunnel: an eGPU only when enrolled by port, else the host's own GPU. */
                r = find_pcie_port(gpu, ports, n_ports, &port);
                if (r <= 0)
                        return r;
        }

        /* One eGPU per slot, named after its first display function. */
        FOREACH_ARRAY(other, h->egpus, h->n_egpus)
                if (pci_function_same_slot((*other)->gpu, gpu))
                        return 0;

        e = calloc(1, sizeof(Egpu));
        if (!e)
                return -ENOMEM;
        e->gpu = gpu;
        e->port = TAKE_PTR(port);
        e->tb_device = e->port ? NULL : find_tunnel_router(h, gpu, nhi);

        r = array_push(&e->functions, &e->n_functions, &functions_allocated, gpu);
        if (r < 0)
                return r;
        for (unsigned fn = 0; fn < 8; fn++)
                FOREACH_ARRAY(f, h->pci, h->n_pci)
                        if (*f != gpu && (*f)->parent == gpu->parent && pci_function_same_slot(*f, gpu) &&
                            pci_function_number(*f) == fn) {
                                r = array_push(&e->functions, &e->n_functions, &functions_allocated, *f);
                                if (r < 0)
                                        return r;
                        }

        e->groups_viable = e->groups_isolated = true;
        FOREACH_ARRAY(f, e->functions, e->n_functions) {
                IommuGroup *g = (*f)->iommu_group >= 0 ? host_find_group(h, (*f)->iommu_group) : NULL;
                bool seen = false;

                if (!g) {
                        e->groups_viable = false;
                        continue;
                }
                FOREACH_ARRAY(x, e->groups, e->n_groups)
                        seen = seen || *x == g;
                if (seen)
                        continue;
                r = array_push(&e->groups, &e->n_groups, &groups_allocated, g);
                if (r < 0)
                        return r;
                if (!iommu_group_is_viable(g))
                        e->groups_viable = false;
                FOREACH_ARRAY(m, g->members, g->n_members)
                        if (egpu_member_is_foreign(e, *m))
                                e->groups_isolated = false;
        }

        r = array_push(&h->egpus, &h->n_egpus, &h->n_egpus_allocated, e);
        if (r < 0)
                return r;
        TAKE_PTR(e);
        return 0;
}

/* Everything built from the devices read: parents, domains, groups, eGPUs. */
static int build_links(Host *h, const PciePort *ports, size_t n_ports) {
        int r;

        r = link_pci_parents(h);
        if (r < 0)
                return r;
        r = link_tb_parents(h);
        if (r < 0)
                return r;
        r = build_groups(h);
        if (r < 0)
                return r;
        FOREACH_ARRAY(f, h->pci, h->n_pci)
                if (pci_function_is_display(*f)) {
                        r = build_egpu(h, *f, ports, n_ports);
                        if (r < 0)
                                return r;
                }
        if (h->n_egpus > 0)
                qsort(h->egpus, h->n_egpus, sizeof(Egpu *), cmp_egpu);
        return 0;
}

int host_load(struct udev *udev, Host **ret) {
        return host_load_with_ports(udev, NULL, 0, ret);
}

int host_load_with_ports(struct udev *udev, const PciePort *ports, size_t n_ports, Host **ret) {
        _cleanup_(host_freep) Host *h = NULL;
        int r;

        h = calloc(1, sizeof(Host));
        if (!h)
                return -ENOMEM;

        r = load_subsystem(h, udev, "thunderbolt", add_thunderbolt);
        if (r < 0)
                return r;
        r = load_subsystem(h, udev, "pci", add_pci);
        if (r < 0)
                return r;
        r = load_iommu_units(h, udev);
        if (r < 0)
                return r;
        r = build_links(h, ports, n_ports);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(h);
        return 0;
}

int host_dup(const Host *h, const PciePort *ports, size_t n_ports, Host **ret) {
        _cleanup_(host_freep) Host *c = calloc(1, sizeof(Host));
        int r;

        if (!c)
                return -ENOMEM;
        c->n_iommu_units = h->n_iommu_units;
        FOREACH_ARRAY(d, h->domains, h->n_domains) {
                TbDomain *x = NULL;

                if (tb_domain_dup(*d, &x) < 0 ||
                    array_push(&c->domains, &c->n_domains, &c->n_domains_allocated, x) < 0) {
                        tb_domain_free(x);
                        return -ENOMEM;
                }
        }
        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices) {
                TbDevice *x = NULL;

                if (tb_device_dup(*t, &x) < 0 ||
                    array_push(&c->tb_devices, &c->n_tb_devices, &c->n_tb_devices_allocated, x) < 0) {
                        tb_device_free(x);
                        return -ENOMEM;
                }
        }
        FOREACH_ARRAY(f, h->pci, h->n_pci) {
                PciFunction *x = NULL;

                if (pci_function_dup(*f, &x) < 0 ||
                    array_push(&c->pci, &c->n_pci, &c->n_pci_allocated, x) < 0) {
                        pci_function_free(x);
                        return -ENOMEM;
                }
        }
        r = build_links(c, ports, n_ports);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

/* The objects host_refresh() drops by syspath all start with it. */
_Static_assert(offsetof(PciFunction, syspath) == 0, "PciFunction starts with its syspath");
_Static_assert(offsetof(TbDevice, syspath) == 0, "TbDevice starts with its syspath");
_Static_assert(offsetof(TbDomain, syspath) == 0, "TbDomain starts with its syspath");

/* Drops the device at syspath from the array a of *n objects that start with their syspath (PciFunction,
 * TbDevice, TbDomain), freeing it with free_one. Returns whether there was one. */
static bool drop_by_syspath(void **a, size_t *n, const char *syspath, void *(*free_one)(void *) ) {
        for (size_t i = 0; i < *n; i++) {
                const char *const *p = a[i]; /* each of these structs starts with its syspath */

                if (!streq(*p, syspath))
                        continue;
                free_one(a[i]);
                memmove(a + i, a + i + 1, (*n - i - 1) * sizeof(void *));
                (*n)--;
                return true;
        }
        return false;
}

static void *pci_function_free_void(void *p) {
        return pci_function_free(p);
}
static void *tb_device_free_void(void *p) {
        return tb_device_free(p);
}
static void *tb_domain_free_void(void *p) {
        return tb_domain_free(p);
}

int host_refresh(Host *h, struct udev *udev, char **syspaths, const PciePort *ports, size_t n_ports) {
        int r;

        drop_built(h);

        STRV_FOREACH(s, syspaths) {
                _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;
                const char *subsystem;

                drop_by_syspath((void **) h->pci, &h->n_pci, *s, pci_function_free_void);
                drop_by_syspath((void **) h->tb_devices, &h->n_tb_devices, *s, tb_device_free_void);
                drop_by_syspath((void **) h->domains, &h->n_domains, *s, tb_domain_free_void);

                d = udev_device_new_from_syspath(udev, *s);
                if (!d)
                        continue; /* removed */
                subsystem = udev_device_get_subsystem(d);
                if (streq_ptr(subsystem, "pci"))
                        r = add_pci(h, d);
                else if (streq_ptr(subsystem, "thunderbolt"))
                        r = add_thunderbolt(h, d);
                else
                        r = 0;
                if (r < 0)
                        return r;
        }
        return build_links(h, ports, n_ports);
}
