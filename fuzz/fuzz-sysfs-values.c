/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-sysfs-values: one sysfs attribute value, as a device reports it, through every parser that reads
 * attributes (fuzz/README.md lists them), and through the helpers that make a value safe for JSON and
 * for the terminal, checking what they promise. */

#include <json-c/json.h>
#include <limits.h>

#include "doctor-files.h"
#include "fuzz.h"
#include "pci-function.h"
#include "store.h"
#include "tb-domain.h"
#include "util.h"

/* Whether s is valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
static bool utf8_valid(const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        while (*p) {
                size_t k;
                uint32_t c;

                if (*p < 0x80) {
                        p++;
                        continue;
                }
                if ((*p & 0xe0) == 0xc0) {
                        k = 2;
                        c = *p & 0x1f;
                } else if ((*p & 0xf0) == 0xe0) {
                        k = 3;
                        c = *p & 0x0f;
                } else if ((*p & 0xf8) == 0xf0) {
                        k = 4;
                        c = *p & 0x07;
                } else
                        return false;
                for (size_t i = 1; i < k; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        c = c << 6 | (p[i] & 0x3f);
                }
                if ((k == 2 && c < 0x80) || (k == 3 && c < 0x800) || (k == 4 && c < 0x10000) ||
                    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                        return false;
                p += k;
        }
        return true;
}

static void check_numbers(const char *s) {
        static const int bases[] = { 0, 10, 16 };
        uint32_t u;
        int i;

        for (size_t b = 0; b < ELEMENTSOF(bases); b++)
                if (safe_atou32(s, bases[b], &u) >= 0) {
                        /* Accepted: no sign, no leading space, and the value re-reads the same. */
                        char buf[32];
                        uint32_t again;

                        fuzz_assert(*s != '-' && *s != '+' && *s != ' ');
                        snprintf(buf, sizeof(buf), bases[b] == 16 ? "%x" : "%u", u);
                        fuzz_assert(safe_atou32(buf, bases[b] == 16 ? 16 : 10, &again) >= 0 && again == u);
                }
        if (safe_atoi(s, &i) >= 0) {
                char buf[32];
                int again;

                snprintf(buf, sizeof(buf), "%d", i);
                fuzz_assert(safe_atoi(buf, &again) >= 0 && again == i);
        }
}

static void check_reset_method(const char *s) {
        _cleanup_strv_free_ char **l = NULL;

        /* As pci_function_new_from_udev() splits reset_method. */
        if (strv_split(s, " \t\n", &l) < 0)
                return;
        STRV_FOREACH(w, l) {
                fuzz_assert(**w);
                fuzz_assert(!strpbrk(*w, " \t\n"));
                fuzz_assert(strv_contains(l, *w));
        }
        PciFunction f = { .reset_methods = l };
        (void) pci_function_has_reset_method(&f, "bus");
}

static void check_json(const char *s) {
        _cleanup_free_ char *clean = NULL;
        json_object *o, *back;
        const char *text;

        /* What json_string_or_null() (src/egpuctl/output.c) does with every device string. */
        if (utf8_sanitize(s, &clean) < 0)
                return;
        fuzz_assert(utf8_valid(clean));
        fuzz_assert(strlen(clean) <= 3 * strlen(s));
        if (utf8_valid(s))
                fuzz_assert(strcmp(clean, s) == 0);

        o = json_object_new_string(clean);
        if (!o)
                return;
        text = json_object_to_json_string_ext(
                o,
                JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (text) {
                fuzz_assert(utf8_valid(text));
                back = json_tokener_parse(text);
                fuzz_assert(back && json_object_is_type(back, json_type_string));
                fuzz_assert(strcmp(json_object_get_string(back), clean) == 0);
                json_object_put(back);
        }
        json_object_put(o);
}

static void check_printable(const char *s) {
        static const size_t max_lens[] = { 0, 1, 3, 256, SIZE_MAX };

        for (size_t i = 0; i < ELEMENTSOF(max_lens); i++) {
                _cleanup_free_ char *p = NULL;

                if (str_printable(s, max_lens[i], &p) < 0)
                        continue;
                /* Safe on a terminal: no C0/C1 controls, no DEL, valid UTF-8. */
                fuzz_assert(utf8_valid(p));
                for (const unsigned char *c = (const unsigned char *) p; *c; c++) {
                        fuzz_assert(*c >= 0x20 && *c != 0x7f);
                        if (c[0] == 0xc2)
                                fuzz_assert(c[1] >= 0xa0);
                }
                fuzz_assert(strlen(p) <= 4 * MIN(strlen(s), max_lens[i]) + 3);
        }
}

static void check_bdf(const char *s) {
        if (!pci_bdf_is_valid(s))
                return;
        fuzz_assert(strlen(s) == 12);
        PciFunction f = { .bdf = (char *) s }, g = { .bdf = (char *) "0000:00:00.0" };
        fuzz_assert(pci_function_number(&f) <= 7);
        fuzz_assert(pci_function_same_slot(&f, &f));
        (void) pci_function_same_slot(&f, &g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL, *stripped = NULL;
        _cleanup_free_ PciResource *res = NULL;
        size_t n_res;
        unsigned speed;
        PciIds ids;
        TbSecurity sec;

        if (size > 64 * 1024) /* sysfs_read_attr() reads at most 64 KiB; an attribute is a page */
                return 0;
        s = fuzz_string(data, size);

        /* libudev and sysfs_read_attr() strip the trailing newline first. */
        stripped = strdup(s);
        if (!stripped)
                return 0;
        strstrip_trailing(stripped);

        check_numbers(stripped);
        check_reset_method(s);
        check_json(stripped);
        check_printable(stripped);
        check_bdf(stripped);

        sec = tb_security_from_string(stripped);
        if (sec != TB_SECURITY_UNKNOWN)
                fuzz_assert(strcmp(tb_security_to_string(sec), stripped) == 0);
        (void) tb_security_allows_pcie(sec);

        (void) store_unique_id_valid(stripped);
        (void) store_key_valid(stripped);

        if (pcie_speed_parse(stripped, &speed) >= 0)
                fuzz_assert(speed <= 1000 * 1000 + 999);

        if (pci_resource_parse(s, &res, &n_res) >= 0)
                for (size_t i = 0; i < n_res; i++) {
                        char b[FORMAT_BYTES_MAX];

                        fuzz_assert(strlen(format_bytes(b, sizeof(b), pci_resource_size(&res[i]))) > 0);
                        (void) pci_resource_unassigned(&res[i]);
                }

        /* The one ids parser: what it takes, written again, reads back the same. */
        if (pci_ids_parse(stripped, &ids) >= 0) {
                char again[32];
                PciIds back;

                snprintf(again, sizeof(again), "%04x:%04x", ids.vendor, ids.device);
                fuzz_assert(
                        pci_ids_parse(again, &back) >= 0 && back.vendor == ids.vendor &&
                        back.device == ids.device);
        }
        /* A valid port path never leaves its root bus. */
        if (pci_port_path_is_valid(stripped))
                fuzz_assert(strneq(stripped, "pci", 3) && !strstr(stripped, ".."));
        {
                usec_t t;
                (void) parse_sec(stripped, &t);
        }

        (void) efivar_bool_parse(data, size);
        return 0;
}
