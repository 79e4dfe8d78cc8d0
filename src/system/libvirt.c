/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <limits.h>

#include "libvirt.h"
#include "util.h"

static const char *const xml_entities[UCHAR_MAX + 1] = {
        ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['\''] = "&apos;", ['"'] = "&quot;",
};

void xml_escape(FILE *f, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; p && *p; p++)
                if (xml_entities[*p])
                        fputs(xml_entities[*p], f);
                else if (*p >= 0x20 || IN_SET(*p, '\t', '\n', '\r'))
                        fputc(*p, f);
}

/* "0000:30:00.1" -> its parts. */
static int parse_bdf(const char *bdf, unsigned *domain, unsigned *bus, unsigned *slot, unsigned *fn) {
        char tail;

        if (sscanf(bdf, "%4x:%2x:%2x.%1x%c", domain, bus, slot, fn, &tail) != 4)
                return -EINVAL;
        if (*bus > 0xff || *slot > 0x1f || *fn > 7)
                return -EINVAL;
        return 0;
}

int libvirt_hostdev_function_xml(FILE *f, const PciFunction *fp, int guest_bus, bool multifunction) {
        unsigned domain, bus, slot, fn;
        int r;

        r = parse_bdf(fp->bdf, &domain, &bus, &slot, &fn);
        if (r < 0)
                return r;
        fputs("<hostdev mode='subsystem' type='pci' managed='yes'>\n  <source>\n    <address "
              "domain='",
              f);
        fprintf(f,
                "0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'/>\n  </source>\n",
                domain,
                bus,
                slot,
                fn);
        if (guest_bus >= 0)
                fprintf(f,
                        "  <address type='pci' domain='0x0000' bus='0x%02x' slot='0x00' "
                        "function='0x%x'%s/>\n",
                        (unsigned) guest_bus,
                        fn,
                        multifunction ? " multifunction='on'" : "");
        /* A user alias ("ua-" and [A-Za-z0-9_-]) names the function for virsh detach-device. */
        fprintf(f, "  <alias name='ua-egpu-%04x-%02x-%02x-%x'/>\n</hostdev>\n", domain, bus, slot, fn);
        return 0;
}

int libvirt_hostdev_xml(FILE *f, const Egpu *e, int guest_bus) {
        FOREACH_ARRAY(fp, e->functions, e->n_functions) {
                int r = libvirt_hostdev_function_xml(
                        f,
                        *fp,
                        guest_bus,
                        pci_function_number(*fp) == 0 && e->n_functions > 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

int libvirt_live_argv(const char *domain, bool attach, const char *xml_file, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL;
        int r;

        /* virsh attach-device DOMAIN FILE --live: the running domain only, its saved definition untouched
         * (virsh(1)). */
        if ((r = strv_extend(&argv, "virsh")) < 0 ||
            (r = strv_extend(&argv, attach ? "attach-device" : "detach-device")) < 0 ||
            (r = strv_extend(&argv, domain)) < 0 || (r = strv_extend(&argv, xml_file)) < 0 ||
            (r = strv_extend(&argv, "--live")) < 0)
                return r;
        *ret = TAKE_PTR(argv);
        return 0;
}
