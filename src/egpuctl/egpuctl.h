/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <syslog.h>

#include <json-c/json.h>

#include "attach.h"
#include "macro.h"
#include "output.h"
#include "report.h"
#include "time-util.h"

/* Exit codes, the same for every verb. */
enum {
        EXIT_OK = 0,      /* all fine */
        EXIT_PROBLEM = 1, /* a problem was found, or an action failed */
        EXIT_USAGE = 2,   /* the command line was wrong */
};

/* Options that every verb understands; parsed once in main.c. */
typedef struct GlobalArgs {
        bool json;        /* --json */
        bool dry_run;     /* --dry-run */
        bool no_color;    /* --no-color, or stdout not a tty, or $NO_COLOR */
        const char *root; /* --root DIR, "" when not given */
} GlobalArgs;

extern GlobalArgs arg_global;

/* A verb gets its own argv, argv[0] being the verb's name; getopt_long() may be used on it.
 * It returns an EXIT_* code. */
typedef int (*VerbFunction)(int argc, char *argv[]);

typedef struct Verb {
        const char *name;
        unsigned min_args; /* positional arguments after the verb, options not counted */
        unsigned max_args;
        VerbFunction fn;
        const char *synopsis; /* "status [--json]" */
        const char *summary;  /* one line for --help */
        const char *options;  /* the verb's own options, one per line, for "VERB --help" */
} Verb;

/* Options every verb accepts; put COMMON_OPTIONS in each verb's getopt_long() table and hand what
 * the verb does not know itself to verb_common_option(). */
enum {
        ARG_JSON = 0x100,
        ARG_ROOT,
        ARG_DRY_RUN,
        ARG_NO_COLOR,
        ARG_VERB_FIRST = 0x200, /* verbs number their own options from here */
};
#define COMMON_OPTIONS                                                               \
        { "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, ARG_JSON }, \
                { "root", required_argument, NULL, ARG_ROOT },                       \
                { "dry-run", no_argument, NULL, ARG_DRY_RUN }, {                     \
                "no-color", no_argument, NULL, ARG_NO_COLOR                          \
        }
#define COMMON_SHORT_OPTIONS "h"

/* Handles option c of the verb called name. Returns 0 when it was a common option and parsing goes on,
 * -1 when --help was printed (the verb returns EXIT_OK), or EXIT_USAGE after printing the error. */
int verb_common_option(const char *name, int c);

/* A verb's own option c (ARG_VERB_FIRST and above) with its argument: 0 to go on, or an EXIT_* code. */
typedef int (*VerbOptionFn)(int c, const char *arg, void *userdata);
/* Parses the verb's argv with getopt_long() and its options o (COMMON_OPTIONS and its own, which go to f
 * with u), then checks the positional argument count (verb_check_args(); the first is at optind). Returns
 * 0 to go on, -1 when --help was printed (the verb returns EXIT_OK), or an EXIT_* code. */
int verb_parse(const char *verb, int argc, char *argv[], const struct option *o, VerbOptionFn f, void *u);
/* verb_parse() for a verb whose one option of its own is the switch --flag: sets *ret when it is given
 * (else leaves it as it is). Returns what verb_parse() returns. */
int verb_parse_flag(const char *verb, int argc, char *argv[], const char *flag, bool *ret);

/* Checks the positional argument count after option parsing (first = optind); EXIT_USAGE with a
 * message when wrong, else 0. */
int verb_check_args(const char *name, int argc, char *argv[], int first);

/* A --timeout value: a span of time as parse_sec() reads it ("30", "1.5", "2min"), from min to max. -EINVAL
 * otherwise; the verb says so. */
int parse_timeout_arg(const char *s, usec_t min, usec_t max, usec_t *ret);

/* Finds a verb in the table. */
const Verb *verb_find(const char *name);

/* One line of usage error on stderr, naming the program and verb; returns EXIT_USAGE. */
int usage_error(const char *verb, const char *fmt, ...) _printf_(2, 3);

/* Logging: the CLI logs once, at the caller, with "%m" for errno set by errno_set(). */
void log_error(const char *fmt, ...) _printf_(1, 2);
void log_warning(const char *fmt, ...) _printf_(1, 2);
void log_info(const char *fmt, ...) _printf_(1, 2);
void log_debug(const char *fmt, ...) _printf_(1, 2);
/* Logs at error level with errno set from error (a -errno value), so that "%m" in fmt prints it; returns
 * error, for a helper to return it as it is, or a verb as `return log_error_errno(r, ...), EXIT_PROBLEM;`.
 */
int log_error_errno(int error, const char *fmt, ...) _printf_(2, 3);
/* Logs s at level (a syslog priority) as printable() shows it: for text from outside (a report, a file). */
void log_printable(int level, const char *s);
void log_set_max_level(int level);    /* syslog priority */
void log_set_prefix_priority(bool b); /* "<3>" prefixes, for journald (the daemon) */

/* Loads the enrolment store, warning about each broken record (with its path and line). */
int enrolled_load_verbose(Enrolled *ret, char **ret_dir);
/* A udev context and the machine as sysfs shows it, the enrolled PCIe ports included (the store is read
 * when enrolled is NULL); logs the error. */
int host_load_verbose(const Enrolled *enrolled, struct udev **ret_udev, Host **ret_host);
/* A ReportLineFunction that prints each line of an action on stdout as it is made; then
 * report_print_error() logs the action's error, if any, prefixed by what. */
void report_print_line(const char *line, bool change, void *userdata);
void report_print_error(const Report *rep, const char *what);
json_object *report_to_json(const Report *rep);
/* The same into the log (the daemon's stderr), each line at info level. */
/* Logs the report's lines (at debug level when quiet, else info) and its error. */
void report_log(const Report *rep, bool quiet, const char *what);

/* Whether Thunderbolt device t is enrolled (by its unique_id). */
bool tb_device_is_enrolled(const TbDevice *t, const Enrolled *enrolled);
/* Prints one line to f for each connected Thunderbolt device (not a host router) that is not enrolled,
 * with the command that enrols it; returns how many. */
size_t print_not_enrolled(FILE *f, const Host *h, const Enrolled *enrolled, const char *indent);

/* Warns when boltd runs, which would race egpuctl for the authorized files. */
void warn_if_boltd(void);
/* Takes the lock that lets one process at a time change devices, telling who holds it otherwise. */
int lock_take_verbose(int *ret_fd);

/* The verbs, each in its own file verb-*.c. */
int verb_status(int argc, char *argv[]);
int verb_doctor(int argc, char *argv[]);
int verb_install(int argc, char *argv[]);
int verb_uninstall(int argc, char *argv[]);
int verb_nic(int argc, char *argv[]);
int verb_vm(int argc, char *argv[]);
/* Whether argv[0] names the Proxmox hookscript link (egpuctl-hook), and running as it. */
bool invoked_as_hookscript(const char *argv0);
int verb_vm_hookscript(int argc, char *argv[]);
int verb_enroll(int argc, char *argv[]);
int verb_forget(int argc, char *argv[]);
int verb_list(int argc, char *argv[]);
int verb_attach(int argc, char *argv[]);
int verb_detach(int argc, char *argv[]);
int verb_eject(int argc, char *argv[]);
int verb_daemon(int argc, char *argv[]);
int verb_guest(int argc, char *argv[]);
int verb_bench(int argc, char *argv[]);
int verb_monitor(int argc, char *argv[]);
