/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "macro.h"

/* Kernel modules: the one answer to "is module X loaded" and "is module X installed". */

/* Whether the module is loaded: /sys/module/NAME exists, the name spelt with '_' as the kernel spells it
 * ("vendor-reset" and "vendor_reset" are the same module). A built-in module shows there only when it has
 * parameters, so for a driver ask pci_driver_is_registered() too. */
bool kernel_module_loaded(const char *name);

/* Whether NAME.ko (also .ko.xz, .ko.zst, .ko.gz, as kmod loads them) is installed for some kernel under
 * root (NULL or "": /): in /lib/modules/VERSION/ or /usr/lib/modules/VERSION/, below updates/dkms (where
 * DKMS puts it on Debian), updates or extra (DKMS's default elsewhere). */
bool kernel_module_installed(const char *root, const char *name);
