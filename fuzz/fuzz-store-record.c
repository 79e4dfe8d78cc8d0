/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-store-record: one enrolment record file, through store_record_parse(), which runs the same
 * record_parse() as store_load() (src/engine/store.c). The input's first line is the file name's stem
 * (the key; store_load() skips files whose name is not a valid key before reading them), the rest is the
 * file's contents, NUL bytes included. */

#include "fuzz.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *stem = NULL;
        Enrollment *e = NULL;
        StoreError *errors = NULL;
        size_t n_errors = 0;
        int r;

        if (size > 2 * STORE_RECORD_MAX) /* store_load() refuses files over STORE_RECORD_MAX */
                return 0;
        stem = fuzz_next_part(&data, &size, '\n');
        if (!stem || !store_key_valid(stem))
                return 0;

        r = store_record_parse(
                "/fuzz/devices/x.conf",
                stem,
                (const char *) data,
                size,
                &e,
                &errors,
                &n_errors);
        fuzz_assert(r >= 0 || r == -ENOMEM);
        for (size_t i = 0; i < n_errors; i++) {
                fuzz_assert(errors[i].path && errors[i].message);
                fuzz_assert(errors[i].error < 0);
        }
        if (e) {
                _cleanup_free_ char *key = NULL;
                char hex[2 * STORE_KEY_SIZE + 1];

                /* What store_load() promises about a loaded record. */
                fuzz_assert(e->type == ENROLL_THUNDERBOLT || e->type == ENROLL_PCIE);
                fuzz_assert(e->policy == ENROLL_POLICY_AUTO || e->policy == ENROLL_POLICY_MANUAL);
                fuzz_assert(e->enrolled >= 0);
                fuzz_assert(enrollment_key(e, &key) >= 0 && streq(key, stem));
                if (e->type == ENROLL_THUNDERBOLT)
                        fuzz_assert(e->unique_id && store_unique_id_valid(e->unique_id) && !e->port);
                else
                        fuzz_assert(
                                e->port && !e->unique_id && !e->has_key && e->pci_vendor <= 0xffff &&
                                e->pci_device <= 0xffff && e->pci_subsystem_vendor <= 0xffff &&
                                e->pci_subsystem_device <= 0xffff);
                if (e->has_key)
                        fuzz_assert(enrollment_key_hex(e, hex) >= 0 && strlen(hex) == 2 * STORE_KEY_SIZE);
                (void) enrollments_find(&e, 1, e->unique_id);
                (void) enrollments_find_port(&e, 1, e->port);
                (void) enroll_policy_to_string(e->policy);
                enrollment_free(e);
        }
        store_errors_free(errors, n_errors);
        return 0;
}
