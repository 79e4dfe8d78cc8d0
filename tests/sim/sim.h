/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <stdint.h>
#include <umockdev.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline bool streq0(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

/* sim_handle_write(): not an attribute the simulator handles */
#define SIM_PASS INT_MIN

/* A PCI function the simulator knows. Paths are relative to the testbed's /sys ("devices/pci0000:00/...").
 */
typedef struct PciDev {
        char *bdf;
        char *path;
        unsigned vendor, device, subvendor, subdevice, class;
        char *natural;       /* driver whose id table matches, NULL if none */
        char *initial_reset; /* reset_method at creation; used when sim.conf has no "reset" line */
} PciDev;

typedef struct DynId {
        char *driver;
        unsigned vendor, device, subvendor, subdevice, class, class_mask;
} DynId;

typedef struct Rule {
        char *glob;
        int value;  /* errno for faults, milliseconds for blocks */
        int count;  /* faults: how many writes still fail; -1: all; reads: how many reads still see the old
                       value */
        char *text; /* reads: the value the attribute shows from then on */
} Rule;

typedef struct Sim {
        UMockdevTestbed *testbed;
        char *root;     /* testbed root ($UMOCKDEV_DIR) */
        char *sys;      /* testbed's /sys */
        char *scenario; /* absolute scenario folder */
        int tunnel_delay_ms;
        bool debug;

        GPtrArray *faults, *blocks, *vanish, *reads; /* Rule* */
        GHashTable *pci;                             /* bdf -> PciDev* */
        GPtrArray *dynids;                           /* DynId* */
        GHashTable *natural;                         /* "vvvv:dddd" -> driver (sim.conf) */
        GHashTable *reset;                           /* "vvvv:dddd" -> methods (sim.conf) */
        GHashTable *vendor_reset;                    /* "vvvv:dddd" -> "" */
        GHashTable *device_keys;                     /* tb name -> hex key the device holds */
        GHashTable *tunnel_timers;                   /* tb name -> GSource id of a pending tunnel change */
        GHashTable *vfio_created;                    /* groups whose /dev/vfio node umockdev has made */
        int kmsg_fd;                                 /* the testbed's dev/kmsg, a pipe (sim_kmsg_open()) */
        unsigned kmsg_seq;
        GQueue *deferred; /* removals waiting for a VM to let go, in order */
        guint deferred_timer;
} Sim;

extern Sim *sim;

#define log_debug(...)                                        \
        do {                                                  \
                if (sim && sim->debug)                        \
                        g_printerr("egpu-sim: " __VA_ARGS__); \
        } while (0)

/* sim-kernel.c */
int sim_load_config(const char *scenario);
int sim_scan_pci(void);
void sim_startup_consistency(void);
int sim_handle_write(const char *rel, const char *data, size_t len);
void sim_handle_read(const char *rel);
int sim_plug(const char *tbname);
int sim_unplug(const char *tbname);
const char *sim_driver_of(const char *bdf, char *buf, size_t size);
/* What runtime PM does to an idle function (the control command "suspend BDF STATE"): power_state becomes
 * STATE (D3hot or D3cold); -EPERM while power/control is "on" (runtime PM forbidden), -ENODEV for an unknown
 * function, -EINVAL for another state. */
int sim_runtime_suspend(const char *bdf, const char *state);
void sim_make_links(const char *file);
void sim_dynid_free(gpointer p);
bool sim_rule_matches(const Rule *r, const char *rel);

/* sim-vfio.c: the kernel's answer to a VFIO open or ioctl ("open", "VFIO_GROUP_GET_STATUS", ...) with its
 * arguments as text; a device's description goes to out. Returns the ioctl's value or -errno. */
int sim_handle_vfio(const char *what, const char *args, GString *out);
/* Whether some process has /dev/vfio/GROUP open. */
bool sim_vfio_group_open(int group);
/* Whether the device at rel (relative to /sys) is locked by a removal that waits for a VM. */
bool sim_device_locked(const char *rel);

/* The kernel log: the testbed's dev/kmsg is a pipe (umockdev then redirects /dev/kmsg to it), which
 * sim_kmsg() writes records to as /dev/kmsg shows them: "PRIO,SEQ,USEC,-;TEXT\n" and " KEY=VALUE\n" lines
 * (Documentation/ABI/testing/dev-kmsg). */
int sim_kmsg_open(void);
void sim_kmsg(int prio, const char *device, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* helpers shared by both files */
char *sys_path(const char *rel);
char *read_attr(const char *devrel, const char *name);
int errno_from_name(const char *name);
int parse_int(const char *s, int *ret);
