/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glob.h>

#include "kernel-module.h"
#include "util.h"

bool kernel_module_loaded(const char *name) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "/sys/module/%s", name) < 0)
                return false;
        for (char *c = p + strlen("/sys/module/"); *c; c++)
                if (*c == '-')
                        *c = '_';
        return access(p, F_OK) >= 0;
}

bool kernel_module_installed(const char *root, const char *name) {
        static const char *const module_dirs[] = { "/lib/modules", "/usr/lib/modules" };
        static const char *const places[] = { "updates/dkms", "updates", "extra" };
        static const char *const suffixes[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz" };

        FOREACH_ARRAY(m, module_dirs, ELEMENTSOF(module_dirs))
                FOREACH_ARRAY(pl, places, ELEMENTSOF(places))
                        FOREACH_ARRAY(s, suffixes, ELEMENTSOF(suffixes)) {
                                _cleanup_free_ char *rel = NULL, *pattern = NULL;
                                glob_t g = {};
                                bool found;

                                /* The kernel version is the one part of the path that is not known. */
                                if (asprintf(&rel, "%s/*/%s/%s%s", *m, *pl, name, *s) < 0)
                                        return false;
                                pattern = path_under_root(root, rel);
                                if (!pattern)
                                        return false;
                                found = glob(pattern, GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc > 0;
                                globfree(&g);
                                if (found)
                                        return true;
                        }
        return false;
}
