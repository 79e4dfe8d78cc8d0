/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#include "attach.h"
#include "detached.h"
#include "event.h"
#include "sysfs.h"
#include "util.h"
#include "vfio-bind.h"

void enrolled_done(Enrolled *e) {
        enrollments_free(e->list, e->n);
        *e = (Enrolled){};
}

Egpu *host_find_egpu_of_router(const Host *h, const TbDevice *t) {
        FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                if ((*e)->tb_device && streq((*e)->tb_device->syspath, t->syspath))
                        return *e;
        return NULL;
}

Enrollment *enrolled_find_egpu(const Enrolled *enrolled, const Egpu *e) {
        FOREACH_ARRAY(x, enrolled->list, enrolled->n) {
                if (e->port ? (*x)->type == ENROLL_PCIE && streq_ptr((*x)->port, e->port)
                            : (*x)->type == ENROLL_THUNDERBOLT && e->tb_device &&
                                    streq_ptr((*x)->unique_id, e->tb_device->unique_id))
                        return *x;
        }
        return NULL;
}

int enrolled_pcie_ports(const Enrolled *enrolled, PciePort **ret, size_t *ret_n) {
        _cleanup_free_ PciePort *ports = NULL;
        size_t n = 0;

        ports = calloc(enrolled->n + 1, sizeof(PciePort));
        if (!ports)
                return -ENOMEM;
        FOREACH_ARRAY(e, enrolled->list, enrolled->n) {
                if ((*e)->type != ENROLL_PCIE || !(*e)->port)
                        continue;
                ports[n++] = (PciePort){
                        .port = (*e)->port,
                        .vendor = (*e)->pci_vendor,
                        .device = (*e)->pci_device,
                        .subsystem_vendor = (*e)->pci_subsystem_vendor,
                        .subsystem_device = (*e)->pci_subsystem_device,
                        .has_subsystem = (*e)->has_subsystem,
                };
        }
        *ret = TAKE_PTR(ports);
        *ret_n = n;
        return 0;
}

bool enrolled_any_vm(const Enrolled *enrolled) {
        for (size_t i = 0; i < enrolled->n; i++)
                if (enrolled->list[i]->vm || enrolled->list[i]->qmp)
                        return true;
        return false;
}

int host_load_enrolled(struct udev *udev, const Enrolled *enrolled, Host **ret) {
        _cleanup_free_ PciePort *ports = NULL;
        size_t n = 0;
        int r;

        if (enrolled) {
                r = enrolled_pcie_ports(enrolled, &ports, &n);
                if (r < 0)
                        return r;
        }
        return host_load_with_ports(udev, ports, n, ret);
}

static int reload(AttachContext *c) {
        Host *n;
        int r;

        r = host_load_enrolled(c->udev, c->enrolled, &n);
        if (r < 0)
                return r;
        host_free(c->host);
        c->host = n;
        return 0;
}

/* The snapshot brought up to date with the devices at syspaths (those events named): only they are read
 * again. Should that fail halfway, the whole host is read again. */
static int refresh(AttachContext *c, char **syspaths) {
        _cleanup_free_ PciePort *ports = NULL;
        size_t n = 0;
        int r;

        r = enrolled_pcie_ports(c->enrolled, &ports, &n);
        if (r < 0)
                return r;
        r = host_refresh(c->host, c->udev, syspaths, ports, n);
        return r < 0 ? reload(c) : 0;
}

int attach_context_open(struct udev *udev, const Enrolled *enrolled, AttachContext *ret) {
        _cleanup_(attach_context_done) AttachContext c = { .udev = udev, .enrolled = enrolled };
        int r;

        /* The monitor first, so that no event between the snapshot and a wait is lost. */
        r = event_uevent_monitor_open(udev, &c.monitor);
        if (r < 0)
                return r;
        r = host_load_enrolled(udev, enrolled, &c.host);
        if (r < 0)
                return r;
        *ret = c;
        c = (AttachContext){};
        return 0;
}

/* Reads the events that came, without waiting, and adds the devices they named to *syspaths, each once.
 * Returns how many came. */
static int monitor_drain(struct udev_monitor *m, char ***syspaths) {
        int n = 0;

        for (;;) {
                _cleanup_(udev_device_unrefp) struct udev_device *d = udev_monitor_receive_device(m);
                const char *syspath;

                if (!d)
                        return n;
                n++;
                syspath = udev_device_get_syspath(d);
                if (syspath && !strv_contains(*syspaths, syspath) && strv_extend(syspaths, syspath) < 0)
                        return -ENOMEM;
        }
}

int attach_context_adopt(
        struct udev *udev,
        const Enrolled *enrolled,
        struct udev_monitor *monitor,
        Host *host,
        AttachContext *ret) {
        _cleanup_(attach_context_done)
                AttachContext c = { .udev = udev, .enrolled = enrolled, .monitor = monitor, .host = host };
        _cleanup_strv_free_ char **changed = NULL;
        int r;

        /* What changed since the copy (the monitor has seen it all), and the store, whose ports decide
         * which functions are eGPUs, as it is now. */
        r = monitor_drain(monitor, &changed);
        if (r >= 0)
                r = refresh(&c, changed);
        if (r < 0)
                return r;
        *ret = c;
        c = (AttachContext){};
        return 0;
}

void attach_context_done(AttachContext *c) {
        c->monitor = udev_monitor_unref(c->monitor);
        c->host = host_free(c->host);
}

/* Waits until an event arrives or the deadline passes; drains what came and adds the devices the events
 * named to *syspaths, each once. 0 on timeout, 1 on events. */
static int monitor_wait(struct udev_monitor *m, int wake_fd, uint64_t deadline, char ***syspaths) {
        struct pollfd p[2] = { { .fd = udev_monitor_get_fd(m), .events = POLLIN },
                               { .fd = wake_fd, .events = POLLIN } };
        uint64_t now = now_usec(), v;
        int r, got = 0;

        if (now >= deadline)
                return 0;
        r = poll(p, wake_fd >= 0 ? 2 : 1, (int) ((deadline - now + 999) / 1000));
        if (r < 0)
                return errno == EINTR ? 1 : negative_errno();
        if (r == 0)
                return 0;
        if (wake_fd >= 0 && (p[1].revents & POLLIN) && read(wake_fd, &v, sizeof(v)) == sizeof(v))
                got = 1;
        r = monitor_drain(m, syspaths);
        return r < 0 ? r : got || r > 0;
}

static const Enrollment *find_enrollment(const Enrolled *en, const TbDevice *t) {
        if (!t->unique_id)
                return NULL;
        return enrollments_find(en->list, en->n, t->unique_id);
}

/* Opens one router's tunnel. Never on names: the unique_id is read again right before the write and must
 * be the enrolled one. */
static int authorize_one(const TbDevice *t, const Enrollment *e, const AttachOptions *o, Report *rep) {
        _cleanup_free_ char *uid = NULL;
        char key_hex[2 * STORE_KEY_SIZE + 1];
        const char *key = NULL;
        TbSecurity sec = t->domain ? t->domain->security : TB_SECURITY_UNKNOWN;
        int r;

        if (!tb_security_allows_pcie(sec))
                return report_error(
                        rep,
                        -EPROTONOSUPPORT,
                        "Domain %s of %s has security level '%s': no PCIe tunnel is possible; "
                        "change the Thunderbolt security level in the firmware",
                        t->domain->name,
                        t->name,
                        tb_security_to_string(sec));

        r = tb_device_read_unique_id(t->syspath, &uid);
        if (r < 0)
                return report_error(rep, r, "Failed to read the unique_id of %s: %m", t->name);
        if (!streq(uid, e->unique_id))
                return report_error(
                        rep,
                        -EPERM,
                        "%s changed its unique_id to %s while being authorized; refusing",
                        t->name,
                        uid);

        if (sec == TB_SECURITY_SECURE) {
                if (!e->has_key)
                        return report_error(
                                rep,
                                -ENOKEY,
                                "%s is in a secure-level domain but its record has no key; enroll "
                                "it again",
                                t->name);
                r = enrollment_key_hex(e, key_hex);
                if (r < 0)
                        return r;
                key = key_hex;
        }

        r = tb_device_authorize(
                t->syspath,
                key,
                key && e->key_approved,
                o->write_timeout_ms * USEC_PER_MSEC);
        if (r == -EKEYREJECTED)
                return report_error(
                        rep,
                        r,
                        "REFUSED %s (unique_id %s): it failed the key challenge, so it is not the "
                        "device that was enrolled; its tunnel stays closed",
                        t->name,
                        uid);
        if (r == -ETIMEDOUT)
                return report_error(
                        rep,
                        r,
                        "Authorizing %s did not finish within %d ms",
                        t->name,
                        o->write_timeout_ms);
        if (r < 0)
                return report_error(rep, r, "Failed to authorize %s: %m", t->name);
        report_change(
                rep,
                "%s: authorized (%s)",
                t->name,
                key ? (e->key_approved ? "key challenged" : "key stored in the device") : "user level");
        if (key && !e->key_approved) {
                /* The device holds the key now: from the next connect on it is challenged. */
                ((Enrollment *) e)->key_approved = true;
                r = store_save(o->store_dir, e);
                if (r < 0)
                        report_note(
                                rep,
                                "Failed to note in the store that %s holds its key (%s); the next "
                                "connect will store it again",
                                t->name,
                                strerror(-r));
        }
        return 0;
}

/* How many tunnels the attaches of this process (attach_run_parallel(), the daemon's workers) opened and
 * still wait on or bind: an attach may take the one new eGPU for its own only while all of them are its
 * own, since another's eGPU may be the one that appeared. */
static atomic_uint tunnels_pending;

/* The eventfds of the attaches that wait for their one new eGPU while others' tunnels are pending: a drop
 * of tunnels_pending is no device event, so it wakes them here, to look again. */
static pthread_mutex_t waiters_mutex = PTHREAD_MUTEX_INITIALIZER;
static int waiters[64];
static size_t n_waiters;

static void tunnels_pending_dropp(unsigned *n) {
        uint64_t one = 1;

        if (*n == 0)
                return;
        atomic_fetch_sub(&tunnels_pending, *n);
        pthread_mutex_lock(&waiters_mutex);
        for (size_t i = 0; i < n_waiters; i++)
                (void) !write(waiters[i], &one, sizeof(one));
        pthread_mutex_unlock(&waiters_mutex);
}

/* Returns an eventfd that tunnels_pending_dropp() wakes, or -errno. */
static int waiter_add(void) {
        _cleanup_close_ int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        int r = 0;

        if (fd < 0)
                return -errno;
        pthread_mutex_lock(&waiters_mutex);
        if (n_waiters < ELEMENTSOF(waiters))
                waiters[n_waiters++] = fd;
        else
                r = -EMFILE;
        pthread_mutex_unlock(&waiters_mutex);
        return r < 0 ? r : TAKE_FD(fd);
}

static void waiter_removep(int *fd) {
        if (*fd < 0)
                return;
        pthread_mutex_lock(&waiters_mutex);
        for (size_t i = 0; i < n_waiters; i++)
                if (waiters[i] == *fd) {
                        waiters[i] = waiters[--n_waiters];
                        break;
                }
        pthread_mutex_unlock(&waiters_mutex);
        closep(fd);
}

/* Held from the authorization to the eGPU by an attach whose router the model cannot tell apart from
 * others of its domain (host_tb_device_placeable()): it then takes the one new eGPU, so two such never
 * wait at once. */
static pthread_mutex_t unplaceable_mutex = PTHREAD_MUTEX_INITIALIZER;

static void mutex_unlockp(pthread_mutex_t **m) {
        if (*m)
                pthread_mutex_unlock(*m);
}

/* One authorization at a time in this process, as the kernel takes one at a time in a domain
 * (drivers/thunderbolt/switch.c tb_switch_set_authorized() under the domain's lock): a router above two
 * devices attached in parallel (a daisy chain) is opened by one attach and found open by the other.
 * Returns 1 when this call opened it, 0 when it was open already. */
static pthread_mutex_t authorize_mutex = PTHREAD_MUTEX_INITIALIZER;

static int authorize_once(const TbDevice *t, const Enrollment *e, const AttachOptions *o, Report *rep) {
        int authorized, r;

        pthread_mutex_lock(&authorize_mutex);
        if (tb_device_read_authorized(t->syspath, &authorized) >= 0 && authorized > 0)
                r = 0;
        else {
                r = authorize_one(t, e, o, rep);
                if (r >= 0) {
                        atomic_fetch_add(&tunnels_pending, 1);
                        r = 1;
                }
        }
        pthread_mutex_unlock(&authorize_mutex);
        return r;
}

/* The eGPUs that attaches of this process took while others were running: never new to those others,
 * even when the router of one cannot be told yet (a daisy chain whose second eGPU has not appeared: the
 * first one's attach may have taken it and be gone). Emptied when no attach is running. */
static pthread_mutex_t taken_mutex = PTHREAD_MUTEX_INITIALIZER;
static char **taken;
static size_t n_taken, taken_allocated;
static unsigned attaches_running;

static void taken_enter(void) {
        pthread_mutex_lock(&taken_mutex);
        attaches_running++;
        pthread_mutex_unlock(&taken_mutex);
}

static void taken_leave(bool *entered) {
        if (!*entered)
                return;
        pthread_mutex_lock(&taken_mutex);
        if (--attaches_running == 0) {
                strv_free(taken);
                taken = NULL;
                n_taken = taken_allocated = 0;
        }
        pthread_mutex_unlock(&taken_mutex);
}

static int taken_add(const char *syspath) {
        int r;

        pthread_mutex_lock(&taken_mutex);
        r = strv_push(&taken, &n_taken, &taken_allocated, strdup(syspath));
        pthread_mutex_unlock(&taken_mutex);
        return r;
}

/* New: absent from the snapshot taken before this attach opened its tunnel, and not taken by another. */
static bool egpu_is_new(const Egpu *e, char **before) {
        bool t;

        if (strv_contains(before, e->gpu->syspath))
                return false;
        pthread_mutex_lock(&taken_mutex);
        t = strv_contains(taken, e->gpu->syspath);
        pthread_mutex_unlock(&taken_mutex);
        return !t;
}

/* The eGPU that router t's tunnel brought: certain association, or else the one eGPU that appeared
 * since before (nothing else can have brought it while we waited on this tunnel only: the caller guesses
 * only when it opened t's tunnel and no other, and no other attach of this process has one pending). */
static Egpu *find_tunnel_egpu(const Host *h, const TbDevice *t, char **before, bool may_guess_new) {
        Egpu *found = host_find_egpu_of_router(h, t), *fresh = NULL;

        if (found || !may_guess_new)
                return found;
        FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                if (!(*e)->tb_device && egpu_is_new(*e, before)) {
                        if (fresh)
                                return NULL;
                        fresh = *e;
                }
        return fresh;
}

/* Whether all functions of the GPU's slot have appeared, each in its IOMMU group when the IOMMU is on:
 * the slot is complete when its function 0 does not announce more functions (multifunction bit in the
 * header type, config byte 0x0e), or when more than one is present. Without a readable config space,
 * what is there is taken. */
static bool egpu_slot_complete(const Host *h, const Egpu *e) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *p = NULL;
        unsigned char header;

        if (host_iommu_active(h))
                FOREACH_ARRAY(f, e->functions, e->n_functions)
                        if ((*f)->iommu_group < 0)
                                return false;
        if (e->n_functions > 1)
                return true;
        p = path_join(e->gpu->syspath, "config");
        if (!p)
                return true;
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || pread(fd, &header, 1, 0x0e) != 1)
                return true;
        return !(header & 0x80);
}

/* Finds the eGPU a wait is for in the host as it is now: sets *ret (NULL while there is none yet) and
 * returns 0, or -ENODEV when waiting is pointless. */
typedef int (*EgpuFinder)(const Host *h, const void *userdata, Egpu **ret);

/* Waits, by device events (and wake_fd, when not negative, read as one) and up to the deadline, until
 * find() gives an eGPU whose slot is complete. At the deadline an incomplete one is taken as it is; with
 * none at all, -ETIMEDOUT. */
static int wait_for_egpu(
        AttachContext *c,
        EgpuFinder find,
        const void *userdata,
        int wake_fd,
        int timeout_ms,
        Egpu **ret) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * 1000ULL;
        int r;

        for (;;) {
                _cleanup_strv_free_ char **changed = NULL;
                Egpu *e = NULL;

                r = find(c->host, userdata, &e);
                if (r < 0)
                        return r;
                if (e && (egpu_slot_complete(c->host, e) || now_usec() >= deadline)) {
                        *ret = e;
                        return 0;
                }
                r = monitor_wait(c->monitor, wake_fd, deadline, &changed);
                if (r < 0)
                        return r;
                if (r == 0 && !e)
                        return -ETIMEDOUT;
                r = refresh(c, changed);
                if (r < 0)
                        return r;
        }
}

typedef struct TunnelWait {
        const char *tb_syspath;
        char **before;
        bool may_guess_new;
        unsigned n_own; /* how many of tunnels_pending are this attach's */
} TunnelWait;

static int find_egpu_of_tunnel(const Host *h, const void *userdata, Egpu **ret) {
        const TunnelWait *w = userdata;
        TbDevice *t = host_find_tb_device_by_syspath(h, w->tb_syspath);

        /* Unplugged, or unplugged and plugged again (closed): this wait is over. */
        if (!t || t->authorized == 0)
                return -ENODEV;
        *ret = find_tunnel_egpu(
                h,
                t,
                w->before,
                w->may_guess_new && atomic_load(&tunnels_pending) == w->n_own);
        return 0;
}

static int find_egpu_of_port(const Host *h, const void *userdata, Egpu **ret) {
        *ret = host_find_egpu_of_port(h, userdata);
        return 0;
}

static int snapshot_egpus(const Host *h, char ***ret) {
        size_t n = 0, allocated = 1;
        _cleanup_strv_free_ char **l = calloc(allocated, sizeof(char *));
        int r;

        if (!l)
                return -ENOMEM;
        FOREACH_ARRAY(e, h->egpus, h->n_egpus) {
                r = strv_push(&l, &n, &allocated, strdup((*e)->gpu->syspath));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* How many attaches of this process are binding now. The pre-flight checks an eGPU that is bound already,
 * and its ioctls cost much CPU (the kernel sets up a container, opens each function, reads its config
 * space and resets it), so an attach whose eGPU is bound lets the others' binding go first: with two
 * eGPUs plugged at once on a busy host (tests/vm's one emulated CPU), both are bound sooner. */
static pthread_once_t binding_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t binding_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t binding_done; /* on CLOCK_MONOTONIC, as now_usec() */
static unsigned binding;

static void binding_init(void) {
        cond_init_monotonic(&binding_done);
}

static void binding_enter(void) {
        pthread_once(&binding_once, binding_init);
        pthread_mutex_lock(&binding_mutex);
        binding++;
        pthread_mutex_unlock(&binding_mutex);
}

static void binding_leave(void) {
        pthread_mutex_lock(&binding_mutex);
        if (--binding == 0)
                pthread_cond_broadcast(&binding_done);
        pthread_mutex_unlock(&binding_mutex);
}

/* Waits until no attach of this process binds, at most timeout (then it goes on regardless). Only after
 * binding_enter(). */
static void binding_wait_idle(usec_t timeout) {
        struct timespec deadline;

        timespec_from_usec(&deadline, usec_add(now_usec(), timeout));
        pthread_mutex_lock(&binding_mutex);
        while (binding > 0 && pthread_cond_timedwait(&binding_done, &binding_mutex, &deadline) != ETIMEDOUT)
                ;
        pthread_mutex_unlock(&binding_mutex);
}

/* Binds the eGPU's functions to vfio-pci and, when that changed anything, checks that a VM's QEMU can
 * use them (the VFIO pre-flight), once no other attach of this process is binding; an eGPU that was
 * bound already is left alone, so that the echo of our own events does not open the groups again. */
static int bind_and_preflight(const Host *h, const Egpu *egpu, const AttachOptions *o, Report *rep) {
        _cleanup_(vfio_preflight_done) VfioPreflight p = {};
        int changed, r;

        binding_enter();
        changed = vfio_bind_egpu(h, egpu, o->write_timeout_ms, rep);
        binding_leave();
        if (changed <= 0)
                return changed;
        binding_wait_idle((usec_t) o->write_timeout_ms * USEC_PER_MSEC);
        r = vfio_preflight_egpu(egpu, &p);
        if (r < 0)
                return report_error(rep, r, "Failed to check the eGPU's VFIO groups: %m");
        r = vfio_preflight_report(&p, rep);
        return r < 0 ? r : changed;
}

/* Whether the eGPU this attach worked on is still plugged in, read back: its router there with the
 * tunnel open (after an unplug it is gone; plugged in again, it comes back closed) and each of its
 * functions there. A failure otherwise is the step's own. */
static bool egpu_still_plugged(const char *tb_syspath, const Egpu *egpu) {
        int authorized;

        if (tb_device_read_authorized(tb_syspath, &authorized) < 0 || authorized <= 0)
                return false;
        FOREACH_ARRAY(f, egpu->functions, egpu->n_functions)
                if (access((*f)->syspath, F_OK) < 0)
                        return false;
        return true;
}

int attach_thunderbolt(AttachContext *c, const char *device, const AttachOptions *o, Report *rep) {
        _cleanup_strv_free_ char **before = NULL, **chain = NULL;
        _cleanup_free_ char *syspath = NULL, *name = NULL;
        const Enrolled *enrolled = c->enrolled;
        const Enrollment *e;
        _cleanup_(tunnels_pending_dropp) unsigned n_opened = 0;
        _cleanup_(mutex_unlockp) pthread_mutex_t *unplaceable = NULL;
        _cleanup_(taken_leave) bool entered = false;
        _cleanup_(waiter_removep) int wake_fd = -EBADF;
        bool opened = false, may_guess_new;
        TbDevice *t;
        Egpu *egpu;
        int r;

        t = host_find_tb_device(c->host, device);
        if (!t)
                return report_error(rep, -ENODEV, "No Thunderbolt device '%s' is connected", device);
        if (t->host_router)
                return report_error(rep, -EINVAL, "%s is a host router, not a device", t->name);
        e = find_enrollment(enrolled, t);
        if (!e)
                return report_error(
                        rep,
                        -EPERM,
                        "%s is not enrolled (unique_id %s); enroll it with 'egpuctl enroll %s'",
                        t->name,
                        strna(t->unique_id),
                        t->name);
        syspath = strdup(t->syspath);
        name = strdup(t->name);
        if (!syspath || !name)
                return -ENOMEM;
        if (!host_tb_device_placeable(c->host, t)) {
                pthread_mutex_lock(&unplaceable_mutex);
                unplaceable = &unplaceable_mutex;
                r = reload(c); /* what another such attach brought meanwhile is not new */
                if (r < 0)
                        return report_error(rep, r, "Failed to read the devices: %m");
                t = host_find_tb_device_by_syspath(c->host, syspath);
                if (!t)
                        return report_error(rep, -ENODEV, "%s went away", device);
        }
        taken_enter();
        entered = true;
        r = snapshot_egpus(c->host, &before);
        if (r < 0)
                return r;

        /* Parents before children: every closed router on the way must be enrolled too. */
        for (TbDevice *x = t; x && !x->host_router; x = x->parent)
                if (x->authorized == 0) {
                        r = strv_extend(&chain, x->syspath);
                        if (r < 0)
                                return r;
                }
        for (size_t i = strv_length(chain); i > 0; i--) {
                TbDevice *x = host_find_tb_device_by_syspath(c->host, chain[i - 1]);
                const Enrollment *xe;

                if (!x)
                        return report_error(rep, -ENODEV, "A router above %s went away", device);
                xe = find_enrollment(enrolled, x);
                if (!xe)
                        return report_error(
                                rep,
                                -EPERM,
                                "%s sits behind %s, which is not enrolled",
                                name,
                                x->name);
                r = authorize_once(x, xe, o, rep);
                if (r < 0)
                        return r;
                if (r > 0) {
                        n_opened++;
                        opened = streq(x->syspath, syspath);
                } else if (!streq(x->syspath, syspath))
                        report_note(rep, "%s: already authorized", x->name);
                /* Read back: the router shows the tunnel open (or, unplugged meanwhile, is gone). */
                r = refresh(c, (char *[]){ chain[i - 1], NULL });
                if (r < 0)
                        return report_error(rep, r, "Failed to read the devices: %m");
        }
        if (!opened)
                report_note(rep, "%s: already authorized", name);

        /* A router above opened too: its eGPU may come first, so only an attach that opened its own
         * router's tunnel and no other may take the one new eGPU. */
        may_guess_new = opened && n_opened == 1;
        if (may_guess_new) {
                wake_fd = waiter_add();
                if (wake_fd < 0)
                        return report_error(
                                rep,
                                wake_fd,
                                "Failed to wait for the eGPU behind %s: %m",
                                device);
        }
        r = wait_for_egpu(
                c,
                find_egpu_of_tunnel,
                &(TunnelWait){ .tb_syspath = syspath,
                               .before = before,
                               .may_guess_new = may_guess_new,
                               .n_own = n_opened },
                wake_fd,
                o->timeout_ms,
                &egpu);
        if (r >= 0) {
                r = taken_add(egpu->gpu->syspath);
                if (r < 0)
                        return r;
        }
        mutex_unlockp(&unplaceable);
        unplaceable = NULL;
        if (r == -ETIMEDOUT)
                return report_error(
                        rep,
                        r,
                        "No eGPU appeared behind %s within %d ms",
                        device,
                        o->timeout_ms);
        if (r == -ENODEV)
                return report_error(rep, r, "%s went away while waiting for its eGPU", device);
        if (r < 0)
                return report_error(rep, r, "Failed to wait for the eGPU behind %s: %m", device);

        if (opened) {
                _cleanup_free_ char *functions = NULL;
                FOREACH_ARRAY(f, egpu->functions, egpu->n_functions) {
                        char *s;
                        if (asprintf(&s, "%s%s%s", strempty(functions), functions ? ", " : "", (*f)->bdf) <
                            0)
                                return -ENOMEM;
                        free(functions);
                        functions = s;
                }
                report_note(
                        rep,
                        "%s: tunnel up, eGPU %s appeared: %s",
                        device,
                        egpu->gpu->bdf,
                        strna(functions));
        }

        /* Events are not needed any more: a monitor left unread only fills up. */
        c->monitor = udev_monitor_unref(c->monitor);
        r = bind_and_preflight(c->host, egpu, o, rep);
        if (r < 0 && !egpu_still_plugged(syspath, egpu)) {
                /* Unplugged meanwhile (its group node gone while the pre-flight opened it): that, not the
                 * step it broke, is why. */
                _cleanup_free_ char *step = TAKE_PTR(rep->error);

                return report_error(rep, -ENODEV, "%s was unplugged (%s)", device, strna(step));
        }
        if (r < 0)
                return r;
        return r > 0 || opened ? 1 : 0;
}

static int unbind_unheld(const Egpu *egpu, bool reprobe, const AttachOptions *o, Report *rep);

int detach_thunderbolt(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep) {
        _cleanup_(host_freep) Host *h = NULL;
        TbDevice *t;
        Egpu *egpu;
        int r;

        r = host_load_enrolled(udev, enrolled, &h);
        if (r < 0)
                return report_error(rep, r, "Failed to read the devices: %m");
        t = host_find_tb_device(h, device);
        if (!t)
                return report_error(rep, -ENODEV, "No Thunderbolt device '%s' is connected", device);

        egpu = host_find_egpu_of_router(h, t);
        if (egpu) {
                r = unbind_unheld(egpu, false, o, rep);
                if (r < 0)
                        return r;
        } else
                report_note(rep, "No eGPU is bound behind %s", t->name);

        if (t->authorized <= 0)
                return report_note(rep, "%s: tunnel already closed", t->name) < 0 ? -ENOMEM : 1;
        if (!t->domain || t->domain->deauthorization != 1) {
                report_note(
                        rep,
                        "%s: the domain does not support deauthorization, so the tunnel cannot be closed "
                        "from software; unplug the cable",
                        t->name);
                return 1;
        }
        r = tb_device_deauthorize(t->syspath, o->write_timeout_ms * USEC_PER_MSEC);
        if (r < 0)
                return report_error(rep, r, "Failed to de-authorize %s: %m", t->name);
        report_change(rep, "%s: de-authorized, tunnel closed", t->name);
        return 1;
}

/* Refuses to go on while a process holds one of the eGPU's groups, unless forced. Without
 * CAP_SYS_PTRACE (the daemon has none) the holder's /proc entries stay closed: the group is still seen
 * as held, only its PID is unknown. */
static int check_holders(const Egpu *egpu, const AttachOptions *o, Report *rep) {
        FOREACH_ARRAY(g, egpu->groups, egpu->n_groups) {
                _cleanup_free_ char *who = NULL;
                pid_t pid;
                int r;

                r = vfio_group_holder((*g)->id, &pid);
                if (r < 0)
                        return report_error(rep, r, "Failed to check who uses /dev/vfio/%d: %m", (*g)->id);
                if (r == 0)
                        continue;
                if (pid > 0 ? asprintf(&who, "process %d (a running VM?)", (int) pid) < 0
                            : asprintf(
                                      &who,
                                      "a process that egpuctl may not look into (a running VM? 'fuser -v "
                                      "/dev/vfio/%d' names it)",
                                      (*g)->id) < 0)
                        return -ENOMEM;
                if (!o->force)
                        return report_error(
                                rep,
                                -EBUSY,
                                "/dev/vfio/%d is held by %s; stop it first, or use --force",
                                (*g)->id,
                                who);
                report_note(rep, "/dev/vfio/%d is held by %s; going on (--force)", (*g)->id, who);
        }
        return 0;
}

/* vfio_unbind_egpu() once check_holders() lets it go on. */
static int unbind_unheld(const Egpu *egpu, bool reprobe, const AttachOptions *o, Report *rep) {
        int r;

        r = check_holders(egpu, o, rep);
        if (r < 0)
                return r;
        return vfio_unbind_egpu(egpu, reprobe, o->write_timeout_ms, rep);
}

/* The PCIe record that device names: its port, its key, or a function of its eGPU now. */
static const Enrollment *find_pcie_enrollment(const Enrolled *enrolled, const Host *h, const char *device) {
        FOREACH_ARRAY(e, enrolled->list, enrolled->n) {
                _cleanup_free_ char *key = NULL;

                if ((*e)->type != ENROLL_PCIE || !(*e)->port)
                        continue;
                if (streq((*e)->port, device))
                        return *e;
                if (enrollment_key(*e, &key) >= 0 && streq(key, device))
                        return *e;
        }
        if (h && pci_bdf_is_valid(device)) {
                const PciFunction *f = host_find_pci(h, device);
                const Egpu *g = f ? host_find_egpu_of(h, f) : NULL;

                if (g && g->port)
                        return enrollments_find_port(enrolled->list, enrolled->n, g->port);
        }
        return NULL;
}

int attach_pcie(AttachContext *c, const char *device, const AttachOptions *o, Report *rep) {
        const Enrollment *e;
        Egpu *egpu;
        int r;

        e = find_pcie_enrollment(c->enrolled, c->host, device);
        if (!e)
                return report_error(
                        rep,
                        -EPERM,
                        "%s is not an enrolled PCIe eGPU; enroll it with 'egpuctl enroll "
                        "BDF' or 'egpuctl enroll --port PORT --ids VVVV:DDDD'",
                        device);

        /* An eGPU counts only while a function with the enrolled ids sits below the port. */
        r = wait_for_egpu(c, find_egpu_of_port, e->port, -EBADF, o->timeout_ms, &egpu);
        if (r == -ETIMEDOUT)
                return report_error(
                        rep,
                        -ETIMEDOUT,
                        "No function with ids %04x:%04x appeared below port %s within %d ms",
                        e->pci_vendor,
                        e->pci_device,
                        e->port,
                        o->timeout_ms);
        if (r < 0)
                return report_error(rep, r, "Failed to wait for the eGPU below %s: %m", e->port);
        c->monitor = udev_monitor_unref(c->monitor);
        return bind_and_preflight(c->host, egpu, o, rep);
}

int detach_pcie(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep) {
        _cleanup_(host_freep) Host *h = NULL;
        const Enrollment *e;
        Egpu *egpu;
        int r;

        r = host_load_enrolled(udev, enrolled, &h);
        if (r < 0)
                return report_error(rep, r, "Failed to read the devices: %m");
        e = find_pcie_enrollment(enrolled, h, device);
        if (!e)
                return report_error(rep, -EPERM, "%s is not an enrolled PCIe eGPU", device);
        egpu = host_find_egpu_of_port(h, e->port);
        if (!egpu)
                return report_note(rep, "No eGPU is present below port %s", e->port) < 0 ? -ENOMEM : 0;
        r = unbind_unheld(egpu, true, o, rep);
        if (r < 0)
                return r;
        report_note(
                rep,
                "%s is PCIe-attached: there is no tunnel to close; unplug it when the slot allows",
                egpu->gpu->bdf);
        return 1;
}

/* PCIe eGPUs are named by a function's address, a port ("pci0000:00/1c.0") or a key ("pci-..."). */
static bool names_pcie(const char *device) {
        return pci_bdf_is_valid(device) || strneq(device, "pci", 3);
}

int attach_device(AttachContext *c, const char *device, const AttachOptions *o, Report *rep) {
        if (names_pcie(device))
                return attach_pcie(c, device, o, rep);
        return attach_thunderbolt(c, device, o, rep);
}

int detach_device(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep) {
        if (names_pcie(device))
                return detach_pcie(udev, enrolled, device, o, rep);
        return detach_thunderbolt(udev, enrolled, device, o, rep);
}

int attach_targets(const Host *h, const Enrolled *enrolled, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, allocated = 0;
        int r;

        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices)
                if (!(*t)->host_router && (*t)->unique_id &&
                    enrollments_find(enrolled->list, enrolled->n, (*t)->unique_id)) {
                        r = strv_push(&l, &n, &allocated, strdup((*t)->name));
                        if (r < 0)
                                return r;
                }
        FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                if ((*e)->port) {
                        r = strv_push(&l, &n, &allocated, strdup((*e)->port));
                        if (r < 0)
                                return r;
                }
        *ret = TAKE_PTR(l);
        return 0;
}

int attach_find_egpu(const Host *h, const Enrolled *enrolled, const char *device, Egpu **ret) {
        if (names_pcie(device)) {
                const Enrollment *e = find_pcie_enrollment(enrolled, h, device);

                if (!e)
                        return -EPERM;
                *ret = host_find_egpu_of_port(h, e->port);
                return 0;
        }
        TbDevice *t = host_find_tb_device(h, device);
        if (!t)
                return -ENODEV;
        if (!find_enrollment(enrolled, t))
                return -EPERM;
        *ret = host_find_egpu_of_router(h, t);
        return 0;
}

int attach_context_reread_egpu(AttachContext *c, const char *device, Egpu **ret) {
        _cleanup_strv_free_ char **syspaths = NULL;
        Egpu *g = NULL;
        int r;

        r = attach_find_egpu(c->host, c->enrolled, device, &g);
        if (r < 0)
                return r;
        if (!g) {
                *ret = NULL;
                return 0;
        }
        FOREACH_ARRAY(f, g->functions, g->n_functions) {
                r = strv_extend(&syspaths, (*f)->syspath);
                if (r < 0)
                        return r;
        }
        r = refresh(c, syspaths); /* frees g with what else was built */
        if (r < 0)
                return r;
        return attach_find_egpu(c->host, c->enrolled, device, ret);
}

/* The key a person's detach is kept under and the sysfs folder that says whether the device is still the
 * one they detached: a Thunderbolt router's unique_id and folder; a PCIe record's key and its GPU's
 * function folder (the port stays when the card goes). -ENODEV when there is nothing to keep. */
static int person_mark(
        const Host *h,
        const Enrolled *enrolled,
        const char *device,
        char **ret_key,
        const char **ret_syspath) {
        if (names_pcie(device)) {
                const Enrollment *e = find_pcie_enrollment(enrolled, h, device);
                Egpu *g = e ? host_find_egpu_of_port(h, e->port) : NULL;

                if (!g)
                        return -ENODEV;
                *ret_syspath = g->gpu->syspath;
                return enrollment_key(e, ret_key);
        }
        TbDevice *t = host_find_tb_device(h, device);
        if (!t || !t->unique_id || !find_enrollment(enrolled, t))
                return -ENODEV;
        *ret_key = strdup(t->unique_id);
        if (!*ret_key)
                return -ENOMEM;
        *ret_syspath = t->syspath;
        return 0;
}

bool attach_held_detached(const Host *h, const Enrolled *enrolled, const char *device, const char *root) {
        _cleanup_free_ char *key = NULL;
        const char *syspath;

        return person_mark(h, enrolled, device, &key, &syspath) >= 0 &&
                detached_is_marked(root, key, syspath) > 0;
}

int attach_by_person(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep) {
        _cleanup_(attach_context_done) AttachContext c = {};
        _cleanup_free_ char *key = NULL;
        const char *syspath;
        int r;

        r = attach_context_open(udev, enrolled, &c);
        if (r < 0)
                return report_error(rep, r, "Failed to read the devices: %m");
        if (person_mark(c.host, enrolled, device, &key, &syspath) >= 0) {
                r = detached_clear(o->root, key);
                if (r < 0)
                        report_note(rep, "Failed to forget that %s was detached: %s", device, strerror(-r));
        }
        return attach_device(&c, device, o, rep);
}

int detach_by_person(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep) {
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_free_ char *key = NULL;
        const char *syspath;
        int r;

        /* The mark first: a daemon that reacts to the detach's own events finds it already. */
        r = host_load_enrolled(udev, enrolled, &h);
        if (r < 0)
                return report_error(rep, r, "Failed to read the devices: %m");
        if (person_mark(h, enrolled, device, &key, &syspath) >= 0) {
                r = detached_mark(o->root, key, syspath);
                if (r < 0)
                        return report_error(rep, r, "Failed to note that %s stays detached: %m", device);
        }
        return detach_device(udev, enrolled, device, o, rep);
}

typedef struct ParallelJob {
        AttachAction action;
        const Enrolled *enrolled;
        const char *device;
        const AttachOptions *o;
        Report *rep;
        int result;
} ParallelJob;

static void *parallel_job(void *p) {
        ParallelJob *j = p;
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();

        /* libudev's objects are not to be shared between threads: a context of its own. */
        j->result = udev
                ? j->action(udev, j->enrolled, j->device, j->o, j->rep)
                : report_error(j->rep, -ENOMEM, "Failed to create a udev context for %s", j->device);
        return NULL;
}

int attach_run_parallel(
        AttachAction action,
        const Enrolled *enrolled,
        char **devices,
        const AttachOptions *o,
        Report *reports,
        int *results) {
        size_t n = strv_length(devices);
        _cleanup_free_ ParallelJob *jobs = NULL;
        _cleanup_free_ pthread_t *threads = NULL;
        _cleanup_free_ bool *started = NULL;
        int r = 0;

        jobs = calloc(n + 1, sizeof(ParallelJob));
        threads = calloc(n + 1, sizeof(pthread_t));
        started = calloc(n + 1, sizeof(bool));
        if (!jobs || !threads || !started)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                jobs[i] = (ParallelJob){
                        .action = action,
                        .enrolled = enrolled,
                        .device = devices[i],
                        .o = o,
                        .rep = &reports[i],
                };
                if (n == 1) {
                        parallel_job(&jobs[i]);
                        results[i] = jobs[i].result;
                        return 0;
                }
                if (pthread_create(&threads[i], NULL, parallel_job, &jobs[i]) != 0) {
                        results[i] = r = report_error(
                                &reports[i],
                                -EAGAIN,
                                "Failed to start a thread for %s",
                                devices[i]);
                        continue;
                }
                started[i] = true;
        }
        for (size_t i = 0; i < n; i++)
                if (started[i]) {
                        (void) pthread_join(threads[i], NULL);
                        results[i] = jobs[i].result;
                }
        return r;
}
