/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libudev.h>

#include "attach.h"
#include "check.h"
#include "host.h"

/* What the checks share: the host, the root, what was gathered once (doctor-internal.h). */
typedef struct Doctor Doctor;

/* One check of "egpuctl doctor": one function and one table line in its family's file (doctor-*.c). */
typedef struct DoctorCheck {
        const char *id;          /* stable, for scripts: "iommu", "nic-names" */
        const char *description; /* what it looks at, one line, for doctor --list */
        /* Fills c (begun with the id, status ok, no summary): check_problem(), check_fix(), check_finish().
         */
        int (*run)(Doctor *d, Check *c);
        /* Skipped as "no eGPU connected" without running when there is no eGPU: run sees at least one. */
        bool needs_egpu;
} DoctorCheck;

/* The i-th check in the order doctor runs and reports them (the families in doctor.c's list, each in its
 * table's order); NULL past the last. The one list of checks: doctor --list and the JSON come from it. */
const DoctorCheck *doctor_check_by_index(size_t i);

/* Runs every check against the machine: h (the model, from host_load_enrolled() with enrolled), the
 * enrolled devices (NULL: none), further devices through udev (network interfaces, USB devices),
 * attributes under /sys, and configuration files under root ("" or NULL for /). Never prints. On success
 * the checks are appended to l, each once, in the order above. */
int doctor_run(struct udev *udev, const Host *h, const Enrolled *enrolled, const char *root, CheckList *l);
