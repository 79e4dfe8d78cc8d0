/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-event: one message from the daemon's event socket, as 'egpuctl monitor' reads it, through
 * event_parse() (src/engine/event.c); what parses is printed as monitor prints it and written back. */

#include "event.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL, *buf = NULL;
        Event *e = NULL, *again = NULL;
        size_t n;
        int r;

        r = event_parse((const char *) data, size, &e);
        fuzz_assert(r >= 0 || r == -EBADMSG || r == -ENOMEM);
        if (r < 0) {
                fuzz_assert(!e);
                return 0;
        }
        fuzz_assert(e && event_type_to_string(e->type));
        fuzz_assert(e->group >= -1);
        r = event_to_text(e, &text);
        fuzz_assert(r >= 0 || r == -ENOMEM);
        /* what was read is written back and reads the same */
        r = event_serialize(e, &buf, &n);
        fuzz_assert(r >= 0 || r == -ENOMEM || r == -EMSGSIZE);
        if (r >= 0) {
                r = event_parse(buf, n, &again);
                fuzz_assert(r >= 0 || r == -ENOMEM);
                if (again)
                        fuzz_assert(
                                again->type == e->type && again->group == e->group &&
                                again->timestamp_usec == e->timestamp_usec && again->tunnel == e->tunnel);
                event_free(again);
        }
        event_free(e);
        return 0;
}
