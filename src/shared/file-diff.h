/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>

#include "macro.h"

/* A unified diff ("diff -u" style, 3 lines of context) of two small texts, from a longest common
 * subsequence of their lines. a or b NULL stands for a file that does not exist (shown as /dev/null).
 * Texts of more than DIFF_MAX_LINES lines each are not compared line by line: the diff then shows the
 * whole old text removed and the whole new text added. Returns 0 when the texts are equal (nothing
 * written), 1 when a diff was written, -errno on failure. */
#define DIFF_MAX_LINES 4000U
int diff_unified(FILE *out, const char *a_label, const char *a, const char *b_label, const char *b);
