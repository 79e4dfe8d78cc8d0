/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "egpu.h"

Egpu *egpu_free(Egpu *e) {
        if (!e)
                return NULL;
        free(e->functions);
        free(e->port);
        free(e->groups);
        return mfree(e);
}

bool egpu_has_function(const Egpu *e, const PciFunction *f) {
        FOREACH_ARRAY(i, e->functions, e->n_functions)
                if (*i == f)
                        return true;
        return false;
}

bool egpu_member_is_foreign(const Egpu *e, const PciFunction *member) {
        return !egpu_has_function(e, member) && !pci_function_is_bridge(member);
}

bool egpu_all_on_driver(const Egpu *e, const char *driver) {
        FOREACH_ARRAY(f, e->functions, e->n_functions)
                if (!streq_ptr((*f)->driver, driver))
                        return false;
        return true;
}

int egpu_prefetchable_window(const Egpu *e, uint64_t *ret) {
        uint64_t sum = 0, pow2 = 1;
        bool any = false;

        FOREACH_ARRAY(f, e->functions, e->n_functions) {
                _cleanup_free_ PciResource *res = NULL;
                size_t n = 0;
                int r;

                r = pci_function_read_resources(*f, &res, &n);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                any = true;
                for (size_t i = 0; i < MIN(n, (size_t) PCI_RESOURCE_ROM); i++)
                        if (pci_resource_is_prefetchable_mem(&res[i]))
                                sum += pci_resource_size(&res[i]);
        }
        if (!any)
                return -ENOENT;
        while (pow2 < sum && pow2 < (UINT64_C(1) << 62))
                pow2 <<= 1;
        *ret = sum == 0 ? 0 : pow2;
        return 0;
}
