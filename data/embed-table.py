#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""embed-table.py IN OUT: writes a C header holding the table of facts IN (data/tables/*.table) as
initializers, so that the program states exactly the facts the table lists, each with its source there.

The format (data/tables/README.md): '#' lines are comments; '%name PREFIX' names the macros;
'%columns NAME:TYPE ...' the columns in order, TYPE one of hex16 (4 hex digits), rev (2 hex digits or
"any", which becomes -1), str, num (a decimal number), int, doc (kept in the file only: sources, the
pci.ids name); '%define NAME VALUE' a macro PREFIX_NAME as it is written; '%alias' and '%pci-vendor' lines
are for tests/data/check-tables and are skipped here. Every other line is a row, fields separated by '|'.
Writes PREFIX_TABLE, the rows as '{ a, b, ... },' initializers of the non-doc columns, and
PREFIX_ROWS, their number. Fails on a row that does not fit the columns."""
import re
import sys

TYPES = ('hex16', 'rev', 'str', 'num', 'int', 'doc')


def fail(path, lineno, msg):
    sys.exit(f'{path}:{lineno}: {msg}')


def c_string(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def convert(path, lineno, kind, value):
    if kind == 'hex16':
        if not re.fullmatch(r'[0-9a-f]{4}', value):
            fail(path, lineno, f'{value!r} is not 4 lowercase hex digits')
        return '0x' + value
    if kind == 'rev':
        if value == 'any':
            return '-1'
        if not re.fullmatch(r'[0-9a-f]{2}', value):
            fail(path, lineno, f'{value!r} is not a revision (2 hex digits or "any")')
        return '0x' + value
    if kind == 'num':
        if not re.fullmatch(r'[0-9]+(\.[0-9]+)?', value):
            fail(path, lineno, f'{value!r} is not a number')
        return value
    if kind == 'int':
        if not re.fullmatch(r'-?[0-9]+', value):
            fail(path, lineno, f'{value!r} is not an integer')
        return value
    return c_string(value)


def main():
    path, out = sys.argv[1], sys.argv[2]
    prefix, columns, defines, rows = None, None, [], []
    for lineno, line in enumerate(open(path, encoding='utf-8'), 1):
        line = line.rstrip('\n')
        if not line.strip() or line.startswith('#'):
            continue
        if line.startswith('%'):
            word, _, rest = line[1:].partition(' ')
            rest = rest.strip()
            if word == 'name':
                prefix = rest
            elif word == 'columns':
                columns = [c.split(':', 1) for c in rest.split()]
                for c in columns:
                    if len(c) != 2 or c[1] not in TYPES:
                        fail(path, lineno, f'bad column {":".join(c)!r}')
            elif word == 'define':
                name, _, value = rest.partition(' ')
                defines.append((name, value.strip()))
            elif word not in ('alias', 'pci-vendor'):
                fail(path, lineno, f'unknown directive %{word}')
            continue
        if not prefix or not columns:
            fail(path, lineno, 'a row before %name and %columns')
        fields = [f.strip() for f in line.split('|')]
        if len(fields) != len(columns):
            fail(path, lineno, f'{len(fields)} fields, {len(columns)} columns')
        values = [convert(path, lineno, kind, f) for (_, kind), f in zip(columns, fields) if kind != 'doc']
        rows.append('        { ' + ', '.join(values) + ' }, \\')
    if not prefix or not columns:
        fail(path, 0, 'no %name or %columns')

    name = path.split('/')[-1]
    lines = [f'/* Generated from data/tables/{name} by data/embed-table.py: do not edit. */', '#pragma once']
    lines += [f'#define {prefix}_{n} {v}' for n, v in defines]
    lines += [f'#define {prefix}_ROWS {len(rows)}', f'#define {prefix}_TABLE \\'] + rows + ['        /* end */']
    open(out, 'w', encoding='utf-8').write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
