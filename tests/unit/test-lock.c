/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lock.h"
#include "util.h"

/* Exit codes of the children: 0 is success, anything else names the check that failed. */
enum {
        CHILD_OK,
        CHILD_NOT_BUSY,
        CHILD_TOO_FAST,
        CHILD_TOO_SLOW,
        CHILD_NO_HOLDER,
        CHILD_WRONG_HOLDER,
        CHILD_NOT_ACQUIRED,
        CHILD_WRONG_PID,
};

typedef struct Fixture {
        char *dir;
        char *path;
} Fixture;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        assert_non_null(f);
        f->dir = strdup("/tmp/test-lock-XXXXXX");
        assert_non_null(f->dir);
        assert_non_null(mkdtemp(f->dir));
        f->path = path_join(f->dir, "run/lock"); /* "run" does not exist yet */
        assert_non_null(f->path);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        (void) nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(f->path);
        free(f->dir);
        free(f);
        return 0;
}

static int wait_child(pid_t pid) {
        int status;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* In a child: tries to take the lock for timeout_ms, expecting it to be held by holder. */
static int child_expect_busy(const char *path, int timeout_ms, pid_t holder) {
        uint64_t start = now_usec(), ms;
        pid_t pid = 0;
        int fd = -EBADF, r;

        r = lock_acquire(path, timeout_ms, &fd);
        ms = (now_usec() - start) / 1000;
        if (r != -EBUSY)
                return CHILD_NOT_BUSY;
        if (ms < (uint64_t) timeout_ms)
                return CHILD_TOO_FAST;
        if (ms > (uint64_t) timeout_ms + 1000)
                return CHILD_TOO_SLOW;
        if (lock_holder_pid(path, &pid) < 0)
                return CHILD_NO_HOLDER;
        if (pid != holder)
                return CHILD_WRONG_HOLDER;
        return CHILD_OK;
}

/* In a child: takes the lock within timeout_ms, and checks that it wrote its PID. */
static int child_expect_acquire(const char *path, int timeout_ms) {
        pid_t pid = 0;
        int fd = -EBADF;

        if (lock_acquire(path, timeout_ms, &fd) < 0)
                return CHILD_NOT_ACQUIRED;
        if (lock_holder_pid(path, &pid) < 0 || pid != getpid())
                return CHILD_WRONG_PID;
        fd = lock_release(fd);
        return CHILD_OK;
}

static void test_acquire_release(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *content = NULL, *expected = NULL;
        struct stat st;
        pid_t pid = 0;
        int fd = -EBADF;

        assert_int_equal(lock_holder_pid(f->path, &pid), -ENOENT);
        assert_int_equal(lock_acquire(f->path, 0, &fd), 0);
        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

        /* The folder is created 0700, the file 0600, holding our PID. */
        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        {
                _cleanup_free_ char *run = path_join(f->dir, "run");
                assert_int_equal(stat(run, &st), 0);
                assert_int_equal(st.st_mode & 07777, 0700);
        }
        assert_int_equal(read_full_file(f->path, 64, &content, NULL), 0);
        assert_true(asprintf(&expected, "%d\n", (int) getpid()) >= 0);
        assert_string_equal(content, expected);
        assert_int_equal(lock_holder_pid(f->path, &pid), 0);
        assert_int_equal(pid, getpid());

        fd = lock_release(fd);
        assert_int_equal(fd, -EBADF);
        assert_int_equal(lock_holder_pid(f->path, &pid), -ENODATA);

        /* Again, now that the file exists. */
        assert_int_equal(lock_acquire(f->path, 100, &fd), 0);
        fd = lock_release(fd);
}

static void test_contended(void **state) {
        Fixture *f = *state;
        int fd = -EBADF;
        pid_t child;

        assert_int_equal(lock_acquire(f->path, 0, &fd), 0);

        /* Another process times out, and can say who holds the lock. */
        child = fork();
        assert_true(child >= 0);
        if (child == 0)
                _exit(child_expect_busy(f->path, 150, getppid()));
        assert_int_equal(wait_child(child), CHILD_OK);

        /* A timeout of 0 tries once. */
        child = fork();
        assert_true(child >= 0);
        if (child == 0)
                _exit(child_expect_busy(f->path, 0, getppid()));
        assert_int_equal(wait_child(child), CHILD_OK);

        /* Released on close(), without lock_release(): the next one gets it. */
        assert_int_equal(close(fd), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0)
                _exit(child_expect_acquire(f->path, 0));
        assert_int_equal(wait_child(child), CHILD_OK);
}

static void test_wait_for_release(void **state) {
        Fixture *f = *state;
        int fd = -EBADF, p[2];
        pid_t child;
        char c;

        assert_int_equal(lock_acquire(f->path, 0, &fd), 0);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);

        /* The child starts waiting (up to 5 s) while we hold the lock; we let go after 100 ms. */
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                close(fd); /* the child's copy of our lock descriptor */
                close(p[0]);
                (void) !write(p[1], "x", 1);
                _exit(child_expect_acquire(f->path, 5000));
        }
        close(p[1]);
        assert_int_equal(read(p[0], &c, 1), 1);
        close(p[0]);
        usleep(100 * 1000);
        fd = lock_release(fd);
        assert_int_equal(wait_child(child), CHILD_OK);
}

static void test_holder_gone(void **state) {
        Fixture *f = *state;
        pid_t child, pid = 0;
        int fd = -EBADF;

        /* A holder that dies without lock_release() leaves its PID behind, but the lock is free. */
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                int cfd;
                _exit(lock_acquire(f->path, 0, &cfd) < 0 ? 1 : 0);
        }
        assert_int_equal(wait_child(child), 0);
        assert_int_equal(lock_holder_pid(f->path, &pid), -ESRCH);
        assert_int_equal(lock_acquire(f->path, 0, &fd), 0);
        assert_int_equal(lock_holder_pid(f->path, &pid), 0);
        assert_int_equal(pid, getpid());
        fd = lock_release(fd);
}

static void test_cleanup(void **state) {
        Fixture *f = *state;
        pid_t pid = 0;

        {
                _cleanup_lock_ int fd = -EBADF;
                assert_int_equal(lock_acquire(f->path, 0, &fd), 0);
        }
        assert_int_equal(lock_holder_pid(f->path, &pid), -ENODATA);
}

static void test_path_default(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
        char *x = NULL;

        assert_int_equal(unsetenv("RUNTIME_DIRECTORY"), 0);
        assert_int_equal(lock_path_default(NULL, &a), 0);
        assert_string_equal(a, "/run/egpuctl/lock");
        /* Under --root DIR the lock is DIR's, so a simulated run never takes the host's. */
        assert_int_equal(lock_path_default("/tmp/scenario/root", &d), 0);
        assert_string_equal(d, "/tmp/scenario/root/run/egpuctl/lock");
        assert_int_equal(runtime_dir_default("/", &e), 0);
        assert_string_equal(e, "/run/egpuctl");
        assert_int_equal(setenv("RUNTIME_DIRECTORY", "/run/egpuctl-test", 1), 0);
        assert_int_equal(lock_path_default("/tmp/scenario/root", &b), 0);
        assert_string_equal(b, "/run/egpuctl-test/lock");
        assert_int_equal(setenv("RUNTIME_DIRECTORY", "/x/:/y", 1), 0);
        assert_int_equal(lock_path_default(NULL, &c), 0);
        assert_string_equal(c, "/x/lock");
        assert_int_equal(setenv("RUNTIME_DIRECTORY", "rel", 1), 0);
        assert_int_equal(lock_path_default(NULL, &x), -EINVAL);
        assert_null(x);
        assert_int_equal(unsetenv("RUNTIME_DIRECTORY"), 0);
}

static void test_errors(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *deep = path_join(f->dir, "a/b/lock");
        pid_t pid = 0;
        int fd = -EBADF;

        /* The folders above are created, as under a --root that has no /run yet. */
        assert_int_equal(lock_acquire(deep, 0, &fd), 0);
        fd = lock_release(fd);
        assert_int_equal(fd, -EBADF);

        /* Garbage in the file is not a PID. */
        assert_int_equal(lock_acquire(f->path, 0, &fd), 0);
        assert_int_equal(pwrite(fd, "junk\n", 5, 0), 5);
        assert_true(lock_holder_pid(f->path, &pid) < 0);
        assert_int_equal(pwrite(fd, "-1\n\n", 4, 0), 4);
        assert_int_equal(lock_holder_pid(f->path, &pid), -EINVAL);
        fd = lock_release(fd);
        assert_int_equal(lock_release(-EBADF), -EBADF);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_acquire_release), T(test_contended),    T(test_wait_for_release), T(test_holder_gone),
                T(test_cleanup),         T(test_path_default), T(test_errors),
        };

        umask(022);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
