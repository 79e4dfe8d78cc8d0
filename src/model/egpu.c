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
