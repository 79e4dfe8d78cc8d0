/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

#include "detached.h"
#include "event.h"
#include "hotplug.h"
#include "lock.h"
#include "release.h"
#include "sysfs.h"
#include "util.h"
#include "vfio.h"

static const char *const surprise_policy_table[_SURPRISE_POLICY_MAX] = {
        [SURPRISE_WAIT] = "wait",
        [SURPRISE_STOP_VM] = "stop-vm",
};

const char *surprise_policy_to_string(SurprisePolicy p) {
        return p >= 0 && p < _SURPRISE_POLICY_MAX ? surprise_policy_table[p] : NULL;
}

SurprisePolicy surprise_policy_from_string(const char *s) {
        for (int i = 0; s && i < _SURPRISE_POLICY_MAX; i++)
                if (streq(s, surprise_policy_table[i]))
                        return i;
        return _SURPRISE_POLICY_INVALID;
}

typedef enum JobKind {
        JOB_ATTACH,   /* key: a device name as attach_device() takes it */
        JOB_SURPRISE, /* key: the address of a function whose removal waits for a VM */
        JOB_RELEASE,  /* key: the address of an eGPU's display function that a VM let go of */
} JobKind;

/* A process (a VM's QEMU) that holds an eGPU's IOMMU group, watched through a pidfd, which polls readable
 * when the process ends (pidfd_open(2), Linux 5.3): closing /dev/vfio/N sends no uevent. */
typedef struct Holder {
        int pidfd;
        pid_t pid;
        char *gpu; /* the eGPU's display function */
        struct Holder *next;
} Holder;

/* What the loop hands an attach so that it need not read the whole host: a monitor, then a copy of the
 * loop's snapshot made after every event from before the monitor's opening was read into it. So no event
 * is lost between the two, as with attach_context_open(). */
typedef struct Prepared {
        struct udev *udev;
        struct udev_monitor *monitor;
        Host *host;
} Prepared;

static Prepared *prepared_free(Prepared *p) {
        if (!p)
                return NULL;
        udev_monitor_unref(p->monitor);
        udev_unref(p->udev);
        host_free(p->host);
        return mfree(p);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Prepared *, prepared_free);

typedef struct Job {
        JobKind kind;
        char *key;
        bool again;         /* an event came while it ran: run once more */
        Prepared *prepared; /* for its next run, NULL: it reads the host itself */
        struct Job *next;
} Job;

struct Hotplug {
        HotplugOptions o;
        struct udev *udev;
        struct udev_monitor *mon;
        int kmsg_fd;
        int done_fd;    /* eventfd: a worker finished */
        int holders_fd; /* epoll: the pidfds of the holders */
        Holder *holders;
        /* The devices as the loop last saw them, to route events: read whole once, then brought up to date
         * with the devices each batch of events names (host_refresh()). The loop's thread only. */
        Host *host;
        /* Devices whose events only echoed a bind to vfio-pci or an unbind (our own attaches make them):
         * no decision follows from those (event_device()), so their re-read waits until a batch of
         * events needs the snapshot. The loop's thread only. */
        char **stale;
        pthread_mutex_t lock;
        pthread_mutex_t log_lock;
        pthread_mutex_t lock_share; /* around the two below */
        int lock_fd;                /* the lock (lock.h), while lock_users > 0 */
        unsigned lock_users;
        Job *jobs; /* in flight */
        unsigned n_running;
};

typedef struct WorkerArgs {
        Hotplug *d;
        Job *job;
} WorkerArgs;

static void logf_(Hotplug *d, int priority, const char *fmt, ...) _printf_(3, 4);
static void logf_(Hotplug *d, int priority, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return;
        if (d->o.events && priority <= LOG_INFO)
                (void) event_server_publish_decision(d->o.events, NULL, "%s", s);
        if (!d->o.log)
                return;
        pthread_mutex_lock(&d->log_lock);
        d->o.log(priority, s);
        pthread_mutex_unlock(&d->log_lock);
}

/* Tells the monitors that a VM took (plugged) or let go of an eGPU. */
static void publish_vm(Hotplug *d, bool plugged, const LiveVm *vm, const char *egpu) {
        _cleanup_(event_freep) Event *e = NULL;

        if (!d->o.events || event_new(plugged ? EVENT_VM_PLUGGED : EVENT_VM_RELEASED, &e) < 0)
                return;
        e->vm = strdup(vm->vmid ?: vm->qmp_path);
        e->egpu = strdup(egpu);
        e->device = strdup(egpu);
        (void) event_server_publish(d->o.events, e);
}

/* A report's lines at info (debug when quiet) and its error prefixed by what. */
static void log_report(Hotplug *d, const Report *rep, bool quiet, const char *what) {
        STRV_FOREACH(l, rep->lines)
                logf_(d, quiet ? LOG_DEBUG : LOG_INFO, "%s", *l);
        if (rep->error)
                logf_(d, LOG_ERR, "%s: %s", what, rep->error);
}

static int load_enrolled(Hotplug *d, Enrolled *ret) {
        StoreError *errors = NULL;
        size_t n_errors = 0;
        int r;

        r = store_load(d->o.attach.store_dir, &ret->list, &ret->n, &errors, &n_errors);
        for (size_t i = 0; i < n_errors; i++)
                logf_(d, LOG_WARNING, "%s:%u: %s", errors[i].path, errors[i].line, errors[i].message);
        store_errors_free(errors, n_errors);
        if (r < 0) {
                errno = -r;
                logf_(d, LOG_ERR, "Failed to read the enrolment store %s: %m", d->o.attach.store_dir);
        }
        return r;
}

/* The lock the verbs take: one writer at a time. */
static int take_lock(Hotplug *d, const char *what, int *ret_fd) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = lock_path_default(d->o.root, &path);
        if (r >= 0)
                r = lock_acquire(path, d->o.lock_timeout_ms, ret_fd);
        if (r < 0) {
                errno = -r;
                logf_(d, LOG_ERR, "%s: failed to take the lock (%m); it runs again at the next event", what);
        }
        return r;
}

/* The workers share one hold of the lock: one writer process, several attaches in it at once, so that
 * two eGPUs plugged together are attached in parallel (each worker its own device, its own timeouts and
 * errors; attach.c opens one tunnel at a time). The first worker takes it, the last one releases it. */
static int lock_share_take(Hotplug *d, const char *what) {
        int r = 0;

        pthread_mutex_lock(&d->lock_share);
        if (d->lock_users == 0)
                r = take_lock(d, what, &d->lock_fd);
        if (r >= 0)
                d->lock_users++;
        pthread_mutex_unlock(&d->lock_share);
        return r;
}

static void lock_share_dropp(Hotplug **d) {
        if (!*d)
                return;
        pthread_mutex_lock(&(*d)->lock_share);
        if (--(*d)->lock_users == 0)
                (*d)->lock_fd = lock_release((*d)->lock_fd);
        pthread_mutex_unlock(&(*d)->lock_share);
}

/* The record of the device a job names. */
static const Enrollment *enrollment_of(const Host *h, const Enrolled *en, const char *device) {
        const TbDevice *t;

        FOREACH_ARRAY(e, en->list, en->n)
                if ((*e)->type == ENROLL_PCIE && streq_ptr((*e)->port, device))
                        return *e;
        t = host_find_tb_device(h, device);
        return t && t->unique_id ? enrollments_find(en->list, en->n, t->unique_id) : NULL;
}

/* Whether the VM answers on its QMP socket. */
static bool vm_running(const LiveVm *vm, const LiveOptions *o) {
        _cleanup_(report_done) Report rep = {};

        return live_vm_check(vm, o, &rep) >= 0;
}

static void schedule(Hotplug *d, JobKind kind, const char *key, Prepared *prepared);

/* Watches the process that holds one of the eGPU's groups, if any, so that its end runs the release. */
static void watch_holders(Hotplug *d, const Egpu *g) {
        FOREACH_ARRAY(grp, g->groups, g->n_groups) {
                Holder *x;
                pid_t pid = 0;
                int fd;

                if (vfio_group_holder((*grp)->id, &pid) <= 0)
                        continue;
                pthread_mutex_lock(&d->lock);
                for (x = d->holders; x; x = x->next)
                        if (x->pid == pid && streq(x->gpu, g->gpu->bdf))
                                break;
                if (x) {
                        pthread_mutex_unlock(&d->lock);
                        continue;
                }
                fd = (int) syscall(SYS_pidfd_open, pid, 0);
                x = calloc(1, sizeof(Holder));
                if (fd < 0 || !x || !(x->gpu = strdup(g->gpu->bdf)) ||
                    epoll_ctl(
                            d->holders_fd,
                            EPOLL_CTL_ADD,
                            fd,
                            &(struct epoll_event){ .events = EPOLLIN, .data.fd = fd }) < 0) {
                        pthread_mutex_unlock(&d->lock);
                        logf_(d,
                              LOG_WARNING,
                              "Cannot watch PID %d, which holds eGPU %s: %m",
                              (int) pid,
                              g->gpu->bdf);
                        if (fd >= 0)
                                close(fd);
                        if (x)
                                free(x->gpu);
                        free(x);
                        continue;
                }
                x->pidfd = fd;
                x->pid = pid;
                x->next = d->holders;
                d->holders = x;
                pthread_mutex_unlock(&d->lock);
                logf_(d,
                      LOG_DEBUG,
                      "eGPU %s: watching PID %d, which holds IOMMU group %d",
                      g->gpu->bdf,
                      (int) pid,
                      (*grp)->id);
        }
}

/* The holders that ended: each one's eGPU gets its release, in a worker. */
static void handle_holders(Hotplug *d) {
        struct epoll_event ev[8];
        int n = epoll_wait(d->holders_fd, ev, (int) ELEMENTSOF(ev), 0);

        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *gpu = NULL;
                pid_t pid = 0;

                pthread_mutex_lock(&d->lock);
                for (Holder **x = &d->holders; *x; x = &(*x)->next)
                        if ((*x)->pidfd == ev[i].data.fd) {
                                Holder *h = *x;

                                *x = h->next;
                                gpu = h->gpu;
                                pid = h->pid;
                                free(h);
                                break;
                        }
                pthread_mutex_unlock(&d->lock);
                (void) epoll_ctl(d->holders_fd, EPOLL_CTL_DEL, ev[i].data.fd, NULL);
                close(ev[i].data.fd);
                if (!gpu)
                        continue;
                logf_(d, LOG_INFO, "eGPU %s: PID %d, which held it, ended", gpu, (int) pid);
                schedule(d, JOB_RELEASE, gpu, NULL);
        }
}

/* A VM let go of the eGPU: back in D0 and ready for the next start (release.h), under the lock. */
static void run_release(Hotplug *d, const char *gpu) {
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(report_done) Report rep = {};
        _cleanup_lock_ int lock_fd = -EBADF;
        const PciFunction *f;
        const Egpu *g;
        int r;

        if (!udev || take_lock(d, gpu, &lock_fd) < 0 || load_enrolled(d, &enrolled) < 0 ||
            host_load_enrolled(udev, &enrolled, &h) < 0)
                return;
        f = host_find_pci(h, gpu);
        g = f ? host_find_egpu_of(h, f) : NULL;
        if (!g)
                return; /* unplugged meanwhile */
        r = egpu_after_release(h, g, d->o.attach.write_timeout_ms, &rep);
        log_report(d, &rep, false, "After the VM let go");
        if (r >= 0)
                logf_(d, LOG_INFO, "eGPU %s: let go of; ready for the next VM", gpu);
}

/* After an attach (c as it left it): the eGPU into the VM its record names, when that VM runs and nobody
 * holds the eGPU. */
static void plug_into_vm(Hotplug *d, AttachContext *c, const char *device) {
        _cleanup_(live_vm_done) LiveVm vm = {};
        _cleanup_(report_done) Report rep = {};
        _cleanup_free_ char *who = NULL, *what = NULL;
        const Enrollment *e;
        Egpu *g = NULL;
        int r;

        /* Most hosts record no VM: then there is nothing to read. */
        if (!enrolled_any_vm(c->enrolled))
                return;
        e = enrollment_of(c->host, c->enrolled, device);
        if (!e || (!e->vm && !e->qmp))
                return;
        if (attach_context_reread_egpu(c, device, &g) < 0 || !g)
                return;
        FOREACH_ARRAY(grp, g->groups, g->n_groups) {
                pid_t pid = 0;

                if (vfio_group_holder((*grp)->id, &pid) > 0) {
                        watch_holders(d, g); /* in a VM already (this one, or another a person chose) */
                        return;
                }
        }
        r = live_vm_new(d->o.root, e->vm, e->qmp, &vm);
        if (r < 0 || live_vm_describe(&vm, &who) < 0)
                return;
        if (!vm_running(&vm, &d->o.live)) {
                logf_(d,
                      LOG_INFO,
                      "%s: %s is not running; eGPU %s waits on vfio-pci for its start",
                      device,
                      who,
                      g->gpu->bdf);
                return;
        }
        r = live_plug(g, &vm, &d->o.live, &rep);
        if (asprintf(&what, "Failed to plug eGPU %s into %s", g->gpu->bdf, who) < 0)
                what = NULL;
        log_report(d, &rep, false, what ?: "plug");
        if (r > 0) {
                publish_vm(d, true, &vm, g->gpu->bdf);
                watch_holders(d, g);
        }
}

/* Attaches device, from what the loop prepared when there is that, else from a read of the whole host. */
static void run_attach(Hotplug *d, const char *device, Prepared *prepared) {
        _cleanup_(prepared_freep) Prepared *p = prepared;
        _cleanup_(udev_unrefp) struct udev *udev = p ? TAKE_PTR(p->udev) : udev_new();
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(attach_context_done) AttachContext c = {};
        _cleanup_(report_done) Report rep = {};
        _cleanup_(lock_share_dropp) Hotplug *held = NULL;
        _cleanup_free_ char *what = NULL;
        int r;

        if (!udev) {
                logf_(d, LOG_ERR, "Failed to create a udev context: %m");
                return;
        }
        if (lock_share_take(d, device) < 0)
                return;
        held = d;
        /* Under the lock, the store and sysfs as they are now: a person may have just changed them. */
        if (load_enrolled(d, &enrolled) < 0)
                return;
        if (p)
                r = attach_context_adopt(udev, &enrolled, TAKE_PTR(p->monitor), TAKE_PTR(p->host), &c);
        else
                r = attach_context_open(udev, &enrolled, &c);
        if (r < 0) {
                errno = -r;
                logf_(d, LOG_ERR, "Failed to read the devices: %m");
                return;
        }
        if (attach_held_detached(c.host, &enrolled, device, d->o.root)) {
                logf_(d,
                      LOG_INFO,
                      "%s: left detached, as a person asked; plug it in again or run egpuctl attach",
                      device);
                return;
        }
        r = attach_device(&c, device, &d->o.attach, &rep);
        if (r == -ENODEV && rep.error) {
                /* Unplugged while we worked on it: not a failure of ours; its add event comes next. */
                logf_(d, LOG_INFO, "%s: went away during the attach (%s)", device, rep.error);
                return;
        }
        if (asprintf(&what, "Failed to attach %s", device) < 0)
                what = NULL;
        /* Nothing to do is the common answer to the events of our own attach: not worth a line. */
        log_report(d, &rep, r == 0, what ?: "attach");
        if (r > 0)
                logf_(d, LOG_INFO, "%s: attached", device);
        else if (r == 0)
                logf_(d, LOG_DEBUG, "%s: already attached", device);
        if (r >= 0)
                plug_into_vm(d, &c, device);
}

/* ---------------------------------------------------------------- surprise unplug */

static void run_surprise(Hotplug *d, const char *bdf) {
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(report_done) Report rep = {};
        _cleanup_(live_vm_done) LiveVm vm = {};
        _cleanup_free_ char *who = NULL;
        const PciFunction *f;
        Egpu *g;
        pid_t holder = 0;
        int r;

        if (!udev || load_enrolled(d, &enrolled) < 0 || host_load_enrolled(udev, &enrolled, &h) < 0)
                return;
        f = host_find_pci(h, bdf);
        g = f ? host_find_egpu_of(h, f) : NULL;
        if (!f || f->iommu_group < 0)
                return; /* gone already: the VM let go */
        r = vfio_group_holder(f->iommu_group, &holder);
        if (r <= 0)
                return;
        if (holder == 0 || live_vm_from_pid(holder, &vm) < 0) {
                logf_(d,
                      LOG_WARNING,
                      "%s was unplugged while process %d holds /dev/vfio/%d, which egpuctl cannot ask to "
                      "let go; "
                      "the host's removal waits until it ends",
                      bdf,
                      (int) holder,
                      f->iommu_group);
                return;
        }
        if (live_vm_describe(&vm, &who) < 0)
                return;
        logf_(d, LOG_WARNING, "eGPU %s was unplugged while %s holds it: asking the VM to let go", bdf, who);
        if (g) {
                r = live_unplug(g, &vm, &d->o.live, &rep);
                log_report(d, &rep, false, "Surprise unplug");
                if (r > 0) {
                        publish_vm(d, false, &vm, bdf);
                        return;
                }
        }
        /* Whatever the VM answered: it lets go, or it is what keeps the host's removal waiting. */
        if (vfio_group_holder(f->iommu_group, &holder) <= 0)
                return;
        if (d->o.on_surprise_unplug == SURPRISE_WAIT) {
                _cleanup_free_ char *fix = NULL;

                if (vm.vmid ? asprintf(&fix, "qm stop %s", vm.vmid) < 0
                            : asprintf(&fix, "kill %d", (int) vm.pid) < 0)
                        return;
                logf_(d,
                      LOG_WARNING,
                      "%s still holds eGPU %s, whose device is gone; the host's removal waits until the VM "
                      "lets "
                      "go: '%s' frees it (or run the daemon with --on-surprise-unplug=stop-vm)",
                      who,
                      bdf,
                      fix);
                return;
        }
        logf_(d,
              LOG_WARNING,
              "Stopping %s, which keeps eGPU %s whose device is gone (--on-surprise-unplug=stop-vm)",
              who,
              bdf);
        r = live_vm_stop(&vm, &d->o.live);
        if (r < 0) {
                errno = -r;
                logf_(d, LOG_ERR, "Failed to stop %s: %m", who);
                return;
        }
        logf_(d, LOG_INFO, "%s stopped; the host's removal of eGPU %s goes on", who, bdf);
        publish_vm(d, false, &vm, bdf);
}

/* ---------------------------------------------------------------- workers */

static void *worker(void *p) {
        WorkerArgs *a = p;
        Hotplug *d = a->d;
        Job *job = a->job;
        uint64_t one = 1;

        free(a);
        for (;;) {
                if (job->kind == JOB_ATTACH) {
                        Prepared *prepared;

                        pthread_mutex_lock(&d->lock);
                        prepared = TAKE_PTR(job->prepared);
                        pthread_mutex_unlock(&d->lock);
                        run_attach(d, job->key, prepared);
                } else if (job->kind == JOB_RELEASE)
                        run_release(d, job->key);
                else
                        run_surprise(d, job->key);
                pthread_mutex_lock(&d->lock);
                if (!job->again) {
                        for (Job **j = &d->jobs; *j; j = &(*j)->next)
                                if (*j == job) {
                                        *j = job->next;
                                        break;
                                }
                        d->n_running--;
                        pthread_mutex_unlock(&d->lock);
                        break;
                }
                job->again = false;
                pthread_mutex_unlock(&d->lock);
        }
        prepared_free(job->prepared);
        free(job->key);
        free(job);
        (void) !write(d->done_fd, &one, sizeof(one));
        return NULL;
}

/* Starts a job in a worker, or asks the running one with the same key to go once more; an attach's next
 * run takes prepared (NULL: it reads the host itself). Takes prepared. */
static void schedule(Hotplug *d, JobKind kind, const char *key, Prepared *prepared) {
        _cleanup_(prepared_freep) Prepared *p = prepared;
        pthread_attr_t attr;
        pthread_t thread;
        WorkerArgs *a;
        Job *job;

        pthread_mutex_lock(&d->lock);
        for (Job *j = d->jobs; j; j = j->next)
                if (j->kind == kind && streq(j->key, key)) {
                        j->again = kind == JOB_ATTACH;
                        if (j->again) {
                                prepared_free(j->prepared);
                                j->prepared = TAKE_PTR(p);
                        }
                        pthread_mutex_unlock(&d->lock);
                        return;
                }
        job = calloc(1, sizeof(Job));
        a = calloc(1, sizeof(WorkerArgs));
        if (!job || !a || !(job->key = strdup(key))) {
                pthread_mutex_unlock(&d->lock);
                free(job ? job->key : NULL);
                free(job);
                free(a);
                logf_(d, LOG_ERR, "Out of memory; not handling %s", key);
                return;
        }
        job->kind = kind;
        job->prepared = TAKE_PTR(p);
        *a = (WorkerArgs){ .d = d, .job = job };
        job->next = d->jobs;
        d->jobs = job;
        d->n_running++;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attr, worker, a) != 0) {
                d->jobs = job->next;
                d->n_running--;
                prepared_free(job->prepared);
                free(job->key);
                free(job);
                free(a);
                logf_(d, LOG_ERR, "Failed to start a worker for %s", key);
        }
        pthread_attr_destroy(&attr);
        pthread_mutex_unlock(&d->lock);
}

unsigned hotplug_running(Hotplug *d) {
        unsigned n;

        pthread_mutex_lock(&d->lock);
        n = d->n_running;
        pthread_mutex_unlock(&d->lock);
        return n;
}

void hotplug_wait(Hotplug *d, int timeout_ms) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * 1000ULL;

        for (;;) {
                struct pollfd p = { .fd = d->done_fd, .events = POLLIN };
                uint64_t v, now = now_usec();

                if (hotplug_running(d) == 0 || now >= deadline)
                        return;
                if (poll(&p, 1, (int) ((deadline - now) / 1000) + 1) > 0)
                        (void) !read(d->done_fd, &v, sizeof(v));
        }
}

/* ---------------------------------------------------------------- events */

/* The device an event concerns (a Thunderbolt router's name, or a PCIe port), when it is enrolled with
 * policy auto and its eGPU is not bound yet: its name, else NULL. */
static char *event_device(const Host *h, struct udev_device *dev, const Enrolled *enrolled) {
        const char *subsystem = udev_device_get_subsystem(dev), *action = udev_device_get_action(dev);
        const Enrollment *e;
        const TbDevice *t = NULL;

        if (!subsystem || !action || streq(action, "remove") || streq(action, "unbind"))
                return NULL;

        if (streq(subsystem, "thunderbolt")) {
                if (!streq_ptr(udev_device_get_devtype(dev), "thunderbolt_device"))
                        return NULL;
                t = host_find_tb_device(h, udev_device_get_sysname(dev));
                if (!t || t->host_router)
                        return NULL;
                /* A tunnel already open with its eGPU on vfio-pci needs nothing. */
                if (t->authorized > 0) {
                        const Egpu *g = host_find_egpu_of_router(h, t);
                        if (!g || egpu_all_on_driver(g, "vfio-pci"))
                                return NULL;
                }
        } else if (streq(subsystem, "pci")) {
                const PciFunction *f = host_find_pci(h, udev_device_get_sysname(dev));
                const Egpu *g = f ? host_find_egpu_of(h, f) : NULL;

                if (!g || streq_ptr(f->driver, "vfio-pci"))
                        return NULL;
                if (g->port) {
                        e = enrollments_find_port(enrolled->list, enrolled->n, g->port);
                        return e && e->policy == ENROLL_POLICY_AUTO ? strdup(g->port) : NULL;
                }
                if (!g->tb_device)
                        return NULL;
                t = g->tb_device;
        } else
                return NULL;

        e = t->unique_id ? enrollments_find(enrolled->list, enrolled->n, t->unique_id) : NULL;
        if (!e || e->policy != ENROLL_POLICY_AUTO)
                return NULL;
        return strdup(t->name);
}

/* Whether an event only echoes a function's bind to vfio-pci, or its unbind: event_device() leaves both
 * alone, whatever the snapshot says of the function (an attach binding an eGPU makes them, one after
 * another, while the other attaches still work). */
static bool event_is_echo(struct udev_device *dev) {
        const char *action = udev_device_get_action(dev);

        if (!streq_ptr(udev_device_get_subsystem(dev), "pci"))
                return false;
        return streq_ptr(action, "unbind") ||
                (streq_ptr(action, "bind") && streq_ptr(udev_device_get_driver(dev), "vfio-pci"));
}

/* d->host brought up to date with the devices of n events and the stale ones: only they are read again
 * (the first time, and should a refresh fail, the whole host is read). */
static int update_host(Hotplug *d, const Enrolled *enrolled, struct udev_device **events, size_t n) {
        _cleanup_strv_free_ char **syspaths = TAKE_PTR(d->stale);
        _cleanup_free_ PciePort *ports = NULL;
        size_t n_ports = 0;
        int r;

        if (d->host) {
                r = 0;
                for (size_t i = 0; i < n && r >= 0; i++) {
                        const char *s = udev_device_get_syspath(events[i]);

                        if (s && !strv_contains(syspaths, s))
                                r = strv_extend(&syspaths, s);
                }
                if (r >= 0)
                        r = enrolled_pcie_ports(enrolled, &ports, &n_ports);
                if (r >= 0 && host_refresh(d->host, d->udev, syspaths, ports, n_ports) >= 0)
                        return 0;
                d->host = host_free(d->host); /* the stale devices' paths are gone with it: read it all */
        }
        return host_load_enrolled(d->udev, enrolled, &d->host);
}

/* Keeps the devices of a batch of echoes (event_is_echo()) for the next update_host(); returns whether
 * the batch was only that, or -ENOMEM. */
static int defer_echoes(Hotplug *d, struct udev_device **events, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!event_is_echo(events[i]))
                        return false;
        for (size_t i = 0; i < n; i++) {
                const char *s = udev_device_get_syspath(events[i]);

                if (s && !strv_contains(d->stale, s) && strv_extend(&d->stale, s) < 0)
                        return -ENOMEM;
        }
        return true;
}

/* A monitor for an attach about to start, in a udev context of its own (the worker's thread uses it); its
 * snapshot comes later. NULL when that fails: the attach then reads the host itself. */
static Prepared *prepare(void) {
        _cleanup_(prepared_freep) Prepared *p = calloc(1, sizeof(Prepared));

        if (!p || !(p->udev = udev_new()) || event_uevent_monitor_open(p->udev, &p->monitor) < 0)
                return NULL;
        return TAKE_PTR(p);
}

/* Reads every pending event into *events (n of them in room for *allocated); returns how many came. */
static size_t receive_events(Hotplug *d, struct udev_device ***events, size_t *allocated) {
        struct udev_device *dev;
        size_t n = 0;

        while ((dev = udev_monitor_receive_device(d->mon))) {
                if (ARRAY_RESERVE(*events, *allocated, n + 1) < 0) {
                        udev_device_unref(dev);
                        break;
                }
                (*events)[n++] = dev;
        }
        return n;
}

/* Reads every pending event first, so that a burst (a tunnel brings a dozen) never fills the socket,
 * then reads the store once and sysfs for the devices the events name. An attach to start gets a monitor
 * and then, once the events that came meanwhile are read too, a copy of the snapshot: no attach reads the
 * whole host, and none misses an event from between its copy and its monitor. */
static void handle_events(Hotplug *d) {
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_strv_free_ char **devices = NULL;
        _cleanup_free_ Prepared **prepared = NULL; /* one for each of devices, or NULL */
        _cleanup_free_ struct udev_device **events = NULL;
        size_t n, allocated = 0, n_devices = 0, devices_allocated = 0, prepared_allocated = 0;
        bool store_read = false;
        int r = 0;

        while (r >= 0 && (n = receive_events(d, &events, &allocated)) > 0) {
                /* A device that went is no longer what a person detached: its next connect
                 * attaches again. */
                for (size_t i = 0; i < n; i++)
                        if (streq_ptr(udev_device_get_action(events[i]), "remove"))
                                (void) detached_forget_syspath(
                                        d->o.root,
                                        udev_device_get_syspath(events[i]));
                /* Our binds' echoes alone decide nothing: their devices are read with the next batch
                 * that does, so the loop leaves the CPU to the attaches binding now. */
                if (d->host && defer_echoes(d, events, n) > 0) {
                        for (size_t i = 0; i < n; i++)
                                udev_device_unref(events[i]);
                        continue;
                }
                if (!store_read)
                        r = load_enrolled(d, &enrolled);
                store_read = true;
                if (r >= 0)
                        r = update_host(d, &enrolled, events, n);
                for (size_t i = 0; i < n && r >= 0; i++) {
                        _cleanup_free_ char *device = event_device(d->host, events[i], &enrolled);

                        if (!device || strv_contains(devices, device))
                                continue;
                        logf_(d,
                              LOG_DEBUG,
                              "%s %s: attaching %s",
                              udev_device_get_action(events[i]),
                              udev_device_get_sysname(events[i]),
                              device);
                        if (ARRAY_RESERVE(prepared, prepared_allocated, n_devices + 1) < 0 ||
                            strv_push(&devices, &n_devices, &devices_allocated, TAKE_PTR(device)) < 0)
                                break;
                        prepared[n_devices - 1] = prepare();
                }
                for (size_t i = 0; i < n; i++)
                        udev_device_unref(events[i]);
        }
        /* A copy holds every event from before its attach's monitor opened, echoes included. */
        if (n_devices > 0 && d->stale)
                (void) update_host(d, &enrolled, NULL, 0); /* failing, it leaves no snapshot to copy */
        for (size_t i = 0; i < n_devices; i++) {
                /* Without the ports: the attach builds its eGPUs with the store as it reads it under the
                 * lock (attach_context_adopt()). */
                if (prepared[i] && (!d->host || host_dup(d->host, NULL, 0, &prepared[i]->host) < 0))
                        prepared[i] = prepared_free(prepared[i]);
                schedule(d, JOB_ATTACH, devices[i], TAKE_PTR(prepared[i]));
        }
}

/* The function a kernel log record says a VM keeps although its device is being removed: vfio-pci's
 * "Relaying device request to user (#N)", or "No device request channel registered, blocked until
 * released by user" (drivers/vfio/pci/vfio_pci_core.c vfio_pci_core_request()). The record is
 * "PRIO,SEQ,USEC,FLAGS;vfio-pci 0000:01:00.1: TEXT" followed by " KEY=VALUE" lines
 * (Documentation/ABI/testing/dev-kmsg). Returns its address, or NULL. */
static char *kmsg_blocked_function(const char *record) {
        const char *text = strchr(record, ';');
        char bdf[13];

        if (!text || !strneq(text + 1, "vfio-pci ", 9))
                return NULL;
        text += 1 + 9;
        if (strlen(text) < 13 || text[12] != ':')
                return NULL;
        if (!strstr(text, "Relaying device request to user") &&
            !strstr(text, "blocked until released by user"))
                return NULL;
        memcpy(bdf, text, 12);
        bdf[12] = 0;
        return pci_bdf_is_valid(bdf) ? strdup(bdf) : NULL;
}

static void handle_kmsg(Hotplug *d) {
        char buf[8192];

        for (;;) {
                _cleanup_free_ char *bdf = NULL, *slot = NULL;
                ssize_t n = read(d->kmsg_fd, buf, sizeof(buf) - 1);

                if (n < 0 && errno == EPIPE)
                        continue; /* records were overwritten before we read them */
                if (n <= 0)
                        return;
                buf[n] = 0;
                /* One record per read from /dev/kmsg; a pipe standing in for it may hand several. */
                for (char *rec = buf; rec && *rec;) {
                        char *next = strchr(rec, '\n');

                        while (next && next[1] == ' ')
                                next = strchr(next + 1, '\n');
                        if (next)
                                *next++ = 0;
                        bdf = mfree(bdf);
                        bdf = kmsg_blocked_function(rec);
                        if (bdf) {
                                logf_(d, LOG_DEBUG, "kernel: the removal of %s waits for its user", bdf);
                                /* one job for the slot: its functions go, and stay, together */
                                schedule(d, JOB_SURPRISE, bdf, NULL);
                        }
                        rec = next;
                }
        }
}

/* ---------------------------------------------------------------- life cycle */

int hotplug_new(const HotplugOptions *o, Hotplug **ret) {
        _cleanup_(hotplug_freep) Hotplug *d = NULL;
        int r;

        d = calloc(1, sizeof(Hotplug));
        if (!d)
                return -ENOMEM;
        d->o = *o;
        d->kmsg_fd = d->done_fd = d->holders_fd = d->lock_fd = -EBADF;
        pthread_mutex_init(&d->lock, NULL);
        pthread_mutex_init(&d->lock_share, NULL);
        pthread_mutex_init(&d->log_lock, NULL);
        d->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d->done_fd < 0)
                return negative_errno();
        d->holders_fd = epoll_create1(EPOLL_CLOEXEC);
        if (d->holders_fd < 0)
                return negative_errno();
        d->udev = udev_new();
        if (!d->udev)
                return -ENOMEM;
        r = event_uevent_monitor_open(d->udev, &d->mon);
        if (r < 0)
                return r;
        /* The kernel log from now on: records before our start are not ours to act on. */
        if (path_passes_testbed(o->kmsg_path ?: "/dev/kmsg")) {
                d->kmsg_fd = -EBADF;
                errno = ENOENT; /* a simulated run reads its own kernel log only, never the host's */
        } else
                d->kmsg_fd = open(o->kmsg_path ?: "/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (d->kmsg_fd < 0)
                logf_(d,
                      LOG_WARNING,
                      "Cannot read the kernel log %s (%m): an eGPU unplugged under a running VM is not seen",
                      o->kmsg_path ?: "/dev/kmsg");
        else
                (void) lseek(d->kmsg_fd, 0, SEEK_END);
        *ret = TAKE_PTR(d);
        return 0;
}

Hotplug *hotplug_free(Hotplug *d) {
        if (!d)
                return NULL;
        hotplug_wait(
                d,
                d->o.attach.timeout_ms + 2 * d->o.attach.write_timeout_ms + d->o.live.unplug_timeout_ms);
        /* Workers that still run keep using d: leave it to the process's end. */
        if (hotplug_running(d) > 0)
                return NULL;
        udev_monitor_unref(d->mon);
        udev_unref(d->udev);
        if (d->kmsg_fd >= 0)
                close(d->kmsg_fd);
        if (d->done_fd >= 0)
                close(d->done_fd);
        while (d->holders) {
                Holder *x = d->holders;

                d->holders = x->next;
                close(x->pidfd);
                free(x->gpu);
                free(x);
        }
        if (d->holders_fd >= 0)
                close(d->holders_fd);
        host_free(d->host);
        strv_free(d->stale);
        pthread_mutex_destroy(&d->lock);
        pthread_mutex_destroy(&d->log_lock);
        pthread_mutex_destroy(&d->lock_share);
        return mfree(d);
}

void hotplug_fds(const Hotplug *d, int ret[HOTPLUG_N_FDS]) {
        ret[0] = udev_monitor_get_fd(d->mon);
        ret[1] = d->kmsg_fd;
        ret[2] = d->done_fd;
        ret[3] = d->holders_fd;
}

void hotplug_process(Hotplug *d) {
        struct pollfd p[HOTPLUG_N_FDS];
        int fds[HOTPLUG_N_FDS];

        hotplug_fds(d, fds);
        for (size_t i = 0; i < HOTPLUG_N_FDS; i++)
                p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
        if (poll(p, HOTPLUG_N_FDS, 0) <= 0)
                return;
        if (p[3].revents & POLLIN)
                handle_holders(d);
        if (p[2].revents & POLLIN) {
                uint64_t v;
                (void) !read(d->done_fd, &v, sizeof(v));
        }
        if (p[1].revents & POLLIN)
                handle_kmsg(d);
        if (p[0].revents & POLLIN)
                handle_events(d);
}

/* Each connected enrolled device (policy auto for an attach), attached in a worker or detached now. */
static void for_each_connected(Hotplug *d, bool attach) {
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_strv_free_ char **targets = NULL;
        _cleanup_(lock_share_dropp) Hotplug *held = NULL;

        if (load_enrolled(d, &enrolled) < 0 || host_load_enrolled(d->udev, &enrolled, &h) < 0 ||
            attach_targets(h, &enrolled, &targets) < 0) {
                logf_(d, LOG_ERR, "Failed to read the devices or the enrolment store");
                return;
        }
        if (!attach) {
                if (lock_share_take(d, "detach at shutdown") < 0)
                        return;
                held = d;
        }
        STRV_FOREACH(t, targets) {
                _cleanup_(report_done) Report rep = {};
                const Enrollment *e = enrollment_of(h, &enrolled, *t);
                int r;

                if (attach) {
                        Egpu *g = NULL;

                        if (e && e->policy == ENROLL_POLICY_AUTO)
                                schedule(d, JOB_ATTACH, *t, NULL);
                        /* A VM that holds it since before our start: its end is ours to see too. */
                        if (attach_find_egpu(h, &enrolled, *t, &g) >= 0 && g)
                                watch_holders(d, g);
                        continue;
                }
                r = detach_device(d->udev, &enrolled, *t, &d->o.attach, &rep);
                log_report(d, &rep, false, "Failed to detach");
                if (r >= 0)
                        logf_(d, LOG_INFO, "%s: detached for shutdown", *t);
        }
        /* The loop's snapshot to start from: read after its monitor opened, so no event is missed. */
        if (attach && !d->host)
                d->host = TAKE_PTR(h);
}

void hotplug_start(Hotplug *d) {
        for_each_connected(d, true);
}

void hotplug_detach_all(Hotplug *d) {
        for_each_connected(d, false);
}
