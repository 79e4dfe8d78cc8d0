/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include "json-util.h"
#include "macro.h"

/* A client of the QEMU Machine Protocol on a unix socket (docs/interop/qmp-spec.rst in QEMU): the server
 * greets with {"QMP": {...}}, the client leaves capabilities negotiation with "qmp_capabilities", then sends
 * {"execute": NAME, "arguments": {...}, "id": N} and reads {"return": ...} or {"error": {"class": C, "desc":
 * D}} with the same id; asynchronous {"event": NAME, "data": {...}, "timestamp": {...}} messages may come at
 * any time and are kept until asked for. Every read waits at most until a deadline (now_usec() clock); a
 * peer that stops answering gives -ETIMEDOUT, a closed one -ECONNRESET. */

typedef struct Qmp Qmp;

/* Connects to path, reads the greeting and negotiates capabilities, all before deadline. -ENOENT or
 * -ECONNREFUSED when no QEMU listens there. */
int qmp_connect(const char *path, uint64_t deadline, Qmp **ret);
Qmp *qmp_close(Qmp *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(Qmp *, qmp_close);

/* Runs command with args (may be NULL; not taken over). On {"return": ...}: 0 and, when ret is non-NULL, a
 * new reference to the value. On {"error": ...}: -EREMOTEIO with "CLASS: DESC" in *ret_error when non-NULL.
 * Events that arrive meanwhile are kept for qmp_wait_event(). */
int qmp_execute(
        Qmp *q,
        const char *command,
        json_object *args,
        uint64_t deadline,
        json_object **ret,
        char **ret_error);

/* Waits for an event called name for which match(data, userdata) is true (match NULL: any), first among
 * those kept, then as they come, until deadline (-ETIMEDOUT). The event is taken out of the queue; its data
 * (a new reference, possibly NULL) in *ret_data when non-NULL. */
int qmp_wait_event(
        Qmp *q,
        const char *name,
        bool (*match)(json_object *data, void *userdata),
        void *userdata,
        uint64_t deadline,
        json_object **ret_data);
