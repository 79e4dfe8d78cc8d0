/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libudev.h>

#include "check.h"
#include "host.h"

/* The checks of "egpuctl doctor", in this order. Each appears exactly once in the result. */
extern const char *const doctor_check_ids[];
extern const size_t doctor_n_check_ids;

/* Runs every check against the machine: h (the model, from host_load()), further devices through udev
 * (network interfaces, USB devices), attributes under /sys, and configuration files under root ("" or
 * NULL for /). Never prints. On success the checks are appended to l. */
int doctor_run(struct udev *udev, const Host *h, const char *root, CheckList *l);
