/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libudev.h>
#include <stdint.h>

#include "macro.h"
#include "time-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev *, udev_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_device *, udev_device_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_enumerate *, udev_enumerate_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_monitor *, udev_monitor_unref);

/* Attribute readers. Each returns -ENOENT when the attribute is absent, -EINVAL when it does not parse,
 * and writes *ret only on success. Values from libudev have their trailing newline removed. */
int sysfs_attr_string(struct udev_device *d, const char *attr, char **ret);
int sysfs_attr_u32(struct udev_device *d, const char *attr, int base, uint32_t *ret);
int sysfs_attr_int(struct udev_device *d, const char *attr, int *ret);

/* Writes value to the sysfs attribute at path with one write(2), as the kernel expects. The kernel's
 * answer is the errno of that write. */
int sysfs_write(const char *path, const char *value);
/* As sysfs_write(), but gives up waiting after timeout with -ETIMEDOUT. Some kernel writes block for
 * seconds (authorizing a Thunderbolt device talks to its firmware); the write goes on in a helper
 * thread that cannot be cancelled, and the kernel's later answer is dropped. */
int sysfs_write_timeout(const char *path, const char *value, usec_t timeout);
/* Reads the attribute at path (its trailing newline removed), giving up waiting after timeout with
 * -ETIMEDOUT: some attributes take the device's lock to show, which the kernel holds for as long as a
 * driver's remove runs, and vfio-pci's waits for a VM to let go (driver_override: drivers/pci/pci-sysfs.c
 * driver_override_show() takes device_lock(); a process reading it stayed in D state for minutes in
 * tests/vm, mode live). The read goes on in a thread that cannot be cancelled. */
int sysfs_read_timeout(const char *path, usec_t timeout, char **ret);
/* The same for attribute attr of the device at syspath. */
int sysfs_write_attr(const char *syspath, const char *attr, const char *value);
/* Reads the attribute attr of the device at syspath afresh (no cache). */
int sysfs_read_attr(const char *syspath, const char *attr, char **ret);
