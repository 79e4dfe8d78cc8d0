/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "event-socket.h"
#include "util.h"

/* The events' wire format (event.h) and the daemon's socket (event-socket.h), both ends in one process. */

static char *make_tmpdir(void) {
        char *d = strdup("/tmp/test-event-XXXXXX");

        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void test_types(void **state) {
        for (EventType t = 0; t < _EVENT_TYPE_MAX; t++) {
                assert_non_null(event_type_to_string(t));
                assert_int_equal(event_type_from_string(event_type_to_string(t)), t);
        }
        assert_string_equal(event_type_to_string(EVENT_TB_AUTHORIZED), "authorized");
        assert_string_equal(event_type_to_string(EVENT_PCI_ADDED), "function-added");
        assert_int_equal(event_type_from_string("nonsense"), -EINVAL);
        assert_null(event_type_to_string(_EVENT_TYPE_MAX));
}

static void test_roundtrip(void **state) {
        _cleanup_(event_freep) Event *e = NULL, *back = NULL;
        _cleanup_free_ char *buf = NULL, *text = NULL;
        size_t size;

        assert_int_equal(event_new(EVENT_DRIVER_BOUND, &e), 0);
        assert_int_equal(e->group, -1);
        e->timestamp_usec = 1764000000123456ULL;
        e->source = strdup("kernel");
        e->device = strdup("0000:30:00.0");
        e->name = strdup("1002:687f");
        e->driver = strdup("vfio-pci");
        e->egpu = strdup("0000:30:00.0");
        e->group = 25;
        e->tunnel = true;
        assert_int_equal(event_serialize(e, &buf, &size), 0);
        assert_string_equal(
                buf,
                "EVENT=driver-bound\nTIMESTAMP=1764000000123456\nSOURCE=kernel\nDEVICE=0000:30:00.0\n"
                "NAME=1002:687f\nDRIVER=vfio-pci\nGROUP=25\nEGPU=0000:30:00.0\nTUNNEL=1\n");
        assert_int_equal(size, strlen(buf));
        assert_int_equal(event_parse(buf, size, &back), 0);
        assert_int_equal(back->type, EVENT_DRIVER_BOUND);
        assert_true(back->timestamp_usec == 1764000000123456ULL);
        assert_string_equal(back->driver, "vfio-pci");
        assert_string_equal(back->egpu, "0000:30:00.0");
        assert_int_equal(back->group, 25);
        assert_true(back->tunnel);
        assert_null(back->vm);
        assert_int_equal(event_to_text(back, &text), 0);
        assert_string_equal(text, "0000:30:00.0 bound to vfio-pci, eGPU 0000:30:00.0");
}

/* A message can never carry a second line into a value, nor a key it does not have. */
static void test_control_characters(void **state) {
        _cleanup_(event_freep) Event *e = NULL, *back = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t size;

        assert_int_equal(event_new(EVENT_DECISION, &e), 0);
        e->message = strdup("line one\nEVENT=vm-plugged\x1b[31m");
        assert_int_equal(event_serialize(e, &buf, &size), 0);
        assert_int_equal(event_parse(buf, size, &back), 0);
        assert_int_equal(back->type, EVENT_DECISION);
        assert_string_equal(back->message, "line one EVENT=vm-plugged [31m");
}

static void test_parse_refuses(void **state) {
        static const char *const bad[] = {
                "",
                "SOURCE=daemon\n",                  /* no EVENT */
                "EVENT=exploded\n",                 /* unknown type */
                "EVENT=decision\nno equals sign\n", /* a line without '=' */
                "EVENT=decision\nGROUP=-1\n",
                "EVENT=decision\nGROUP=12x\n",
                "EVENT=decision\nTIMESTAMP=-5\n",
                "EVENT=decision\nTIMESTAMP=99999999999999999999999\n",
                "EVENT=decision\nTUNNEL=yes\n",
        };
        _cleanup_free_ char *big = malloc(EVENT_MESSAGE_MAX + 2);
        Event *e = NULL;

        FOREACH_ARRAY(b, bad, ELEMENTSOF(bad)) {
                assert_int_equal(event_parse(*b, strlen(*b), &e), -EBADMSG);
                assert_null(e);
        }
        assert_int_equal(event_parse("EVENT=decision\0X", 16, &e), -EBADMSG);
        assert_non_null(big);
        memset(big, 'a', EVENT_MESSAGE_MAX + 1);
        memcpy(big, "EVENT=decision\nMESSAGE=", 23);
        assert_int_equal(event_parse(big, EVENT_MESSAGE_MAX + 1, &e), -EBADMSG);
        /* a key of a newer publisher is ignored, a last line without newline taken */
        assert_int_equal(event_parse("EVENT=vm-released\nFUTURE=1\nVM=100", 33, &e), 0);
        assert_string_equal(e->vm, "100");
        event_free(e);
}

/* The daemon's side publishes, monitors read: each gets every event, with a timestamp and a source
 * filled in; one that went is dropped without disturbing the others; the socket goes with the server. */
static void test_socket(void **state) {
        _cleanup_free_ char *dir = make_tmpdir(), *rundir = path_join(dir, "run/egpuctl"),
                            *path = path_join(rundir, EVENT_SOCKET_NAME);
        _cleanup_(event_server_freep) EventServer *s = NULL;
        _cleanup_(event_freep) Event *got = NULL, *vm = NULL;
        int a = -EBADF, b = -EBADF;
        struct pollfd p;

        assert_int_equal(event_client_connect(rundir, &a), -ENOENT); /* no daemon */
        assert_int_equal(event_server_new(rundir, &s), 0);           /* creates run/egpuctl */
        assert_int_equal(access(path, F_OK), 0);
        assert_int_equal(event_client_connect(rundir, &a), 0);
        assert_int_equal(event_client_connect(rundir, &b), 0);
        p = (struct pollfd){ .fd = event_server_fd(s), .events = POLLIN };
        assert_int_equal(poll(&p, 1, 5000), 1);
        assert_int_equal(event_server_accept(s), 2);

        assert_int_equal(
                event_server_publish_decision(s, "1-1", "attaching %s (policy %s)", "1-1", "auto"),
                2);
        assert_int_equal(event_client_receive(a, &got), 0);
        assert_int_equal(got->type, EVENT_DECISION);
        assert_string_equal(got->message, "attaching 1-1 (policy auto)");
        assert_string_equal(got->device, "1-1");
        assert_string_equal(got->source, "daemon");
        assert_true(got->timestamp_usec > 1700000000000000ULL);
        got = event_free(got);
        assert_int_equal(event_client_receive(b, &got), 0);
        assert_string_equal(got->message, "attaching 1-1 (policy auto)");
        got = event_free(got);

        /* b goes: the next event reaches a only */
        close(b);
        assert_int_equal(event_new(EVENT_VM_PLUGGED, &vm), 0);
        vm->vm = strdup("100");
        vm->egpu = strdup("0000:30:00.0");
        assert_int_equal(event_server_publish(s, vm), 1);
        assert_int_equal(event_client_receive(a, &got), 0);
        assert_int_equal(got->type, EVENT_VM_PLUGGED);
        assert_string_equal(got->vm, "100");
        got = event_free(got);

        /* the daemon stops: the monitor sees the end, and the socket is gone */
        s = event_server_free(s);
        assert_int_equal(event_client_receive(a, &got), 0);
        assert_null(got);
        assert_int_equal(access(path, F_OK), -1);
        close(a);
        (void) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A monitor that does not read never blocks the publisher: once its buffer is full it is dropped. */
static void test_slow_monitor(void **state) {
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_(event_server_freep) EventServer *s = NULL;
        _cleanup_(event_freep) Event *e = NULL;
        int a = -EBADF, n = 0, r;
        struct pollfd p;

        assert_int_equal(event_server_new(dir, &s), 0);
        assert_int_equal(event_client_connect(dir, &a), 0);
        p = (struct pollfd){ .fd = event_server_fd(s), .events = POLLIN };
        assert_int_equal(poll(&p, 1, 5000), 1);
        assert_int_equal(event_server_accept(s), 1);
        assert_int_equal(event_new(EVENT_DECISION, &e), 0);
        e->message = strdup("many");
        while ((r = event_server_publish(s, e)) == 1 && n < 1000000)
                n++;
        assert_int_equal(r, 0); /* dropped, not blocked */
        assert_true(n > 0);
        close(a);
        s = event_server_free(s);
        (void) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_types),
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_control_characters),
                cmocka_unit_test(test_parse_refuses),
                cmocka_unit_test(test_socket),
                cmocka_unit_test(test_slow_monitor),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
