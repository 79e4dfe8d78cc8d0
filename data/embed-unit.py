#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""embed-unit.py IN OUT: writes a C header holding the unit file IN as a printf format string,
@sbindir@ becoming %s, so that `egpuctl install` writes exactly the unit that meson installs."""
import sys

text = open(sys.argv[1]).read().replace('%', '%%').replace('@sbindir@', '%s')
if text.count('%s') != 1:
    sys.exit('embed-unit.py: the unit must name @sbindir@ exactly once')
lines = ['/* Generated from data/egpuctl.service.in by data/embed-unit.py: do not edit. */',
         '#pragma once', '#define EGPUCTL_UNIT_FORMAT \\']
for line in text.splitlines(True):
    lines.append('        "' + line.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n') + '" \\')
lines.append('        ""')
open(sys.argv[2], 'w').write('\n'.join(lines) + '\n')
