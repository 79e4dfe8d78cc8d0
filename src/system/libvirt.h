/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>

#include "egpu.h"

/* libvirt: <hostdev> elements for an eGPU's functions, for `virsh attach-device` or a domain's
 * <devices>. Function 0 of the slot is marked multifunction when there are several functions, and
 * each function keeps its function number on one guest slot. */

/* Writes s with &, <, >, ' and " escaped for XML attribute values and text. Control characters
 * other than tab, newline and carriage return (not allowed in XML 1.0) are dropped. */
void xml_escape(FILE *f, const char *s);

/* Writes the <hostdev> elements for the eGPU's functions. guest_bus is the guest PCI bus to put them
 * on, or -1 to let libvirt choose (then no guest <address>, and no multifunction). */
int libvirt_hostdev_xml(FILE *f, const Egpu *e, int guest_bus);
/* The <hostdev> element of one function. */
int libvirt_hostdev_function_xml(FILE *f, const PciFunction *fp, int guest_bus, bool multifunction);

/* The command that hot-adds (attach) or removes the device of xml_file to the running domain:
 * virsh attach-device|detach-device DOMAIN FILE --live. Run it with spawn_run(). */
int libvirt_live_argv(const char *domain, bool attach, const char *xml_file, char ***ret);
