/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sysfs.h"
#include "tb-domain.h"
#include "util.h"

static const char *const security_table[] = {
        [TB_SECURITY_UNKNOWN] = "unknown", [TB_SECURITY_NONE] = "none",
        [TB_SECURITY_USER] = "user",       [TB_SECURITY_SECURE] = "secure",
        [TB_SECURITY_DPONLY] = "dponly",   [TB_SECURITY_USBONLY] = "usbonly",
        [TB_SECURITY_NOPCIE] = "nopcie",
};

const char *tb_security_to_string(TbSecurity s) {
        return string_table_get(security_table, ELEMENTSOF(security_table), s, "unknown");
}

TbSecurity tb_security_from_string(const char *s) {
        ssize_t i = string_table_lookup(security_table, ELEMENTSOF(security_table), s);

        return i < 0 ? TB_SECURITY_UNKNOWN : (TbSecurity) i;
}

bool tb_security_allows_pcie(TbSecurity s) {
        return !IN_SET(s, TB_SECURITY_DPONLY, TB_SECURITY_USBONLY, TB_SECURITY_NOPCIE);
}

int tb_domain_new_from_udev(struct udev_device *d, TbDomain **ret) {
        _cleanup_(tb_domain_freep) TbDomain *dom = NULL;
        _cleanup_free_ char *security = NULL;
        struct udev_device *parent;
        const char *sysname;

        dom = calloc(1, sizeof(TbDomain));
        if (!dom)
                return -ENOMEM;
        dom->iommu_dma_protection = dom->deauthorization = -1;

        sysname = udev_device_get_sysname(d);
        dom->syspath = strdup(udev_device_get_syspath(d));
        dom->name = strdup(sysname ?: "");
        if (!dom->syspath || !dom->name)
                return -ENOMEM;

        if (sysfs_attr_string(d, "security", &security) >= 0)
                dom->security = tb_security_from_string(security);
        (void) sysfs_attr_int(d, "iommu_dma_protection", &dom->iommu_dma_protection);
        (void) sysfs_attr_int(d, "deauthorization", &dom->deauthorization);

        parent = udev_device_get_parent(d);
        if (parent && streq_ptr(udev_device_get_subsystem(parent), "pci")) {
                dom->nhi_bdf = strdup(udev_device_get_sysname(parent));
                if (!dom->nhi_bdf)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(dom);
        return 0;
}

/* Its text fields, for tb_domain_free() and tb_domain_dup(): a new one goes here. */
static const size_t tb_domain_strings[] = {
        offsetof(TbDomain, syspath),
        offsetof(TbDomain, name),
        offsetof(TbDomain, nhi_bdf),
};

TbDomain *tb_domain_free(TbDomain *d) {
        if (!d)
                return NULL;
        struct_strings_free(d, tb_domain_strings, ELEMENTSOF(tb_domain_strings));
        return mfree(d);
}

int tb_domain_dup(const TbDomain *d, TbDomain **ret) {
        _cleanup_(tb_domain_freep) TbDomain *c = malloc(sizeof(TbDomain));

        if (!c)
                return -ENOMEM;
        *c = *d;
        if (struct_strings_dup(c, d, tb_domain_strings, ELEMENTSOF(tb_domain_strings)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}
