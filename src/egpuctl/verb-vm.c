/* SPDX-License-Identifier: GPL-2.0-or-later */
/* TODO (issue 6, in progress): vm attach, vm hook, vm xml. */
#include "egpuctl.h"

int verb_vm(int argc, char *argv[]) {
        log_error("egpuctl vm is not implemented yet");
        return EXIT_PROBLEM;
}

bool invoked_as_hookscript(const char *argv0) {
        return false;
}

int verb_vm_hookscript(int argc, char *argv[]) {
        return EXIT_PROBLEM;
}
