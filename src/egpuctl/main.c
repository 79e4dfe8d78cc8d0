/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>
#include <syslog.h>

#include "config.h"
#include "egpuctl.h"
#include "sysfs.h"
#include "util.h"

GlobalArgs arg_global = { .root = "" };

static const Verb verbs[] = {
        { "status",
          0,
          0,
          verb_status,
          "status [--json]",
          "Show Thunderbolt domains and devices, eGPUs, their functions, drivers and IOMMU groups",
          NULL },
        { "install",
          0,
          0,
          verb_install,
          "install [--root DIR] [--dry-run] [--apply]",
          "Install the daemon's unit, the eGPU's udev rule, modprobe and modules-load files",
          "     --apply        Then run systemctl daemon-reload, udevadm control --reload, "
          "update-initramfs\n" },
        { "uninstall",
          0,
          0,
          verb_uninstall,
          "uninstall [--root DIR] [--dry-run] [--apply]",
          "Remove what egpuctl install wrote, keeping files edited since",
          "     --apply        Then run systemctl daemon-reload, udevadm control --reload, "
          "update-initramfs\n" },
        { "nic",
          1,
          1,
          verb_nic,
          "nic pin [--root DIR] [--dry-run]",
          "Pin NICs named after their PCI bus to their MAC address, and update /etc/network/interfaces",
          NULL },
        { "vm",
          1,
          3,
          verb_vm,
          "vm attach VMID | vm plug VMID | vm unplug VMID | vm hook VMID PHASE | vm xml",
          "Give the eGPU to a Proxmox VM through a PCI mapping, plug it into a running VM or take it out, "
          "run "
          "as its hookscript, or print libvirt XML",
          "     --mapping NAME  vm attach: the cluster PCI mapping to create or update (default egpu)\n"
          "     --gpu BDF       vm attach, plug, unplug, xml: which eGPU, when there are several\n"
          "     --node NAME     vm attach: the Proxmox node name (default: this host's name)\n"
          "     --qmp SOCKET    vm plug, unplug: the VM's QMP socket (default "
          "/var/run/qemu-server/VMID.qmp)\n"
          "     --libvirt DOMAIN\n"
          "                     vm plug, unplug: a libvirt domain, through virsh attach-device --live\n"
          "     --timeout SEC   vm unplug: how long the VM may take to give the eGPU back (default 15)\n" },
        { "enroll",
          0,
          1,
          verb_enroll,
          "enroll DEVICE|--port PORT --ids IDS [--policy auto|manual] [--vm VMID] [--qmp SOCKET]",
          "Allow a Thunderbolt device (1-1 or its unique_id) to be authorized, or a PCIe eGPU (its "
          "display function's address, or a port and ids) to be taken",
          "  --policy auto|manual  auto: the daemon attaches it when it appears (default);\n"
          "                        manual: only 'egpuctl attach' does\n"
          "  --port PORT           A PCIe port path (see 'egpuctl status --json'), for an empty slot\n"
          "  --ids VVVV:DDDD[:SSSS:SSSS]\n"
          "                        The ids the GPU in that port must have\n"
          "  --vm VMID             The Proxmox VM it belongs to: the daemon plugs it into that VM\n"
          "                        when it appears while the VM runs\n"
          "  --qmp SOCKET          The same for another QEMU's VM, by its QMP socket\n" },
        { "forget", 1, 1, verb_forget, "forget UNIQUE_ID|PORT", "Remove a device's enrolment record", NULL },
        { "list", 0, 0, verb_list, "list [--json]", "List enrolled and connected devices", NULL },
        { "attach",
          0,
          1,
          verb_attach,
          "attach [DEVICE] [--timeout SEC]",
          "Authorize enrolled devices and bind their eGPU functions to vfio-pci",
          "  --timeout SEC  How long to wait for the tunnel's PCI functions (default 10)\n" },
        { "detach",
          0,
          1,
          verb_detach,
          "detach [DEVICE] [--force]",
          "Unbind the eGPU from vfio-pci and close its tunnel",
          "  --force        Detach even while a process (a VM) holds the VFIO group\n" },
        { "eject",
          0,
          1,
          verb_eject,
          "eject [DEVICE] [--timeout SEC]",
          "Take the eGPU out of the VM that holds it, detach it, and say when it is safe to unplug",
          "  --timeout SEC  How long the VM may take to give the eGPU back (default 15)\n" },
        { "guest",
          1,
          1,
          verb_guest,
          "guest check [--json] [--url URL] [--timeout SEC]",
          "Check, inside the VM, that the passed-through GPU is ready for Ollama",
          "  --url URL          Ollama's address (default http://127.0.0.1:11434)\n"
          "  --timeout SEC      Limit for each request to Ollama (default 5)\n" },
        { "bench",
          0,
          0,
          verb_bench,
          "bench [--url URL] [--model M] [--runs N] [--json]",
          "Measure Ollama's tokens/s against the GPU's memory-bandwidth bound",
          "  --url URL          Ollama's address (default http://127.0.0.1:11434)\n"
          "  --model M          The model (default llama3.2)\n"
          "  --runs N           Measured runs after one warm-up (default 5)\n"
          "  --num-predict N    Tokens generated per run (default 128)\n"
          "  --timeout SEC      Limit for each request (default 300)\n"
          "  --bandwidth GB/S   Memory bandwidth of a GPU egpuctl does not know\n" },
        { "daemon",
          0,
          0,
          verb_daemon,
          "daemon [--on-surprise-unplug wait|stop-vm] [--unplug-timeout SEC]",
          "Attach enrolled eGPUs at start and on hot-plug, plug them into their running VM; detach them at "
          "system shutdown",
          "  --on-surprise-unplug wait|stop-vm\n"
          "                        When an eGPU is unplugged while a VM keeps it and the VM does not\n"
          "                        let go: log the VM and wait (default), or stop the VM\n"
          "  --unplug-timeout SEC  How long a VM may take to let go of an eGPU (default 15)\n" },
        { "doctor",
          0,
          0,
          verb_doctor,
          "doctor [--json] [--root DIR] [--list]",
          "Check everything eGPU passthrough needs, and say how to mend what is wrong",
          "  --list             List the checks, in the order they run, and what each looks at\n" },
        { "monitor",
          0,
          0,
          verb_monitor,
          "monitor [--json]",
          "Show, as they happen, Thunderbolt devices coming, going and authorized, PCI functions, driver "
          "changes, IOMMU groups becoming viable or not, and the daemon's decisions",
          NULL },
};

const Verb *verb_find(const char *name) {
        FOREACH_ARRAY(v, verbs, ELEMENTSOF(verbs))
                if (streq(v->name, name))
                        return v;
        return NULL;
}

/* --help's verb lines: the summaries start in one column, the synopsis alone on its line when it is
 * longer; summaries wrap at HELP_WIDTH. */
#define HELP_INDENT 2
#define HELP_COLUMN 36
#define HELP_WIDTH  100

static void help_wrapped(const char *text, size_t column, size_t at) {
        const char *p = text;

        while (*p) {
                size_t room = HELP_WIDTH > column ? HELP_WIDTH - column : 20, n = strlen(p);

                if (at < column)
                        printf("%*s", (int) (column - at), "");
                if (n > room) {
                        /* the last space that fits, or the first one at all */
                        n = room;
                        while (n > 0 && p[n] != ' ')
                                n--;
                        if (n == 0)
                                n = strcspn(p, " ");
                }
                printf("%.*s\n", (int) n, p);
                p += n;
                p += strspn(p, " ");
                at = 0;
        }
}

static void help(void) {
        printf("egpuctl %s: Thunderbolt/USB4 and PCIe eGPU passthrough to virtual machines.\n\n"
               "Usage: egpuctl [OPTIONS] VERB [ARGS...]\n\n"
               "Verbs:\n",
               PACKAGE_VERSION);
        FOREACH_ARRAY(v, verbs, ELEMENTSOF(verbs)) {
                size_t at = HELP_INDENT + strlen(v->synopsis);

                printf("%*s%s", HELP_INDENT, "", v->synopsis);
                if (at + 1 > HELP_COLUMN) { /* at least one space between them, else a line of its own */
                        putchar('\n');
                        at = 0;
                }
                help_wrapped(v->summary, HELP_COLUMN, at);
        }
        printf("\nOptions (also after the verb):\n"
               "  -h --help         Show this help, or a verb's with VERB --help\n"
               "     --version      Show the version\n"
               "     --json         Print JSON for scripts\n"
               "     --root DIR     Read and write configuration files and the enrolment store under DIR\n"
               "                    (default $EGPUCTL_ROOT, which tests/run-scenario sets)\n"
               "     --dry-run      Show what would change, change nothing\n"
               "     --no-color     No colours even on a terminal (also $NO_COLOR)\n"
               "\nExit status: 0 fine, 1 a problem found or an action failed, 2 usage error.\n");
}

static void verb_help(const Verb *v) {
        printf("Usage: egpuctl %s\n\n%s.\n", v->synopsis, v->summary);
        if (v->options)
                printf("\nOptions:\n%s", v->options);
        printf("\nCommon options: --json, --root DIR, --dry-run, --no-color, -h --help\n");
}

int verb_common_option(const char *name, int c) {
        switch (c) {
        case 'h': {
                const Verb *v = name ? verb_find(name) : NULL;
                if (v)
                        verb_help(v);
                else
                        help();
                return -1;
        }
        case ARG_JSON:
                arg_global.json = true;
                return 0;
        case ARG_ROOT:
                if (!*optarg)
                        return usage_error(name, "--root needs a folder");
                arg_global.root = optarg;
                return 0;
        case ARG_DRY_RUN:
                arg_global.dry_run = true;
                return 0;
        case ARG_NO_COLOR:
                arg_global.no_color = true;
                return 0;
        case '?':
                return EXIT_USAGE; /* getopt_long() printed the message */
        default:
                return usage_error(name, "unhandled option");
        }
}

int parse_timeout_arg(const char *s, usec_t min, usec_t max, usec_t *ret) {
        usec_t t;

        if (parse_sec(s, &t) < 0 || t < min || t > max)
                return -EINVAL;
        *ret = t;
        return 0;
}

int verb_parse(const char *verb, int argc, char *argv[], const struct option *o, VerbOptionFn f, void *u) {
        int c, r;

        while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, o, NULL)) >= 0) {
                r = c >= ARG_VERB_FIRST && f ? f(c, optarg, u) : verb_common_option(verb, c);
                if (r != 0)
                        return r;
        }
        return verb_check_args(verb, argc, argv, optind);
}

static int flag_option(int c, const char *arg, void *userdata) {
        bool *flag = userdata;

        *flag = true;
        return 0;
}

int verb_parse_flag(const char *verb, int argc, char *argv[], const char *flag, bool *ret) {
        const struct option options[] = {
                COMMON_OPTIONS,
                { flag, no_argument, NULL, ARG_VERB_FIRST },
                {},
        };

        return verb_parse(verb, argc, argv, options, flag_option, ret);
}

int verb_check_args(const char *name, int argc, char *argv[], int first) {
        const Verb *v = verb_find(name);
        unsigned n = argc > first ? (unsigned) (argc - first) : 0;

        if (!v)
                return 0;
        if (n < v->min_args)
                return usage_error(name, "missing argument; usage: egpuctl %s", v->synopsis);
        if (n > v->max_args)
                return usage_error(name, "unexpected argument '%s'", argv[first + (int) v->max_args]);
        return 0;
}

/* The hidden listings that shell completion (completion/) reads, so that a verb, a sub-verb or an option
 * added to the table above is completed without editing the scripts. They are taken from the synopsis
 * and option texts of --help; tests/cli checks that every option listed is one the verb accepts. */

/* Whether the word at p (up to a space, or the end) names an option's argument: a placeholder in
 * capitals (DIR, VVVV:DDDD[:SSSS:SSSS], GB/S) or a choice of lowercase words (auto|manual). */
static size_t option_argument_length(const char *p) {
        size_t n = strcspn(p, " \n"), open = 0, close = 0;

        if (n == 0)
                return 0;
        if (!(p[0] >= 'A' && p[0] <= 'Z') && !(memchr(p, '|', n) && p[0] >= 'a' && p[0] <= 'z'))
                return 0;
        for (size_t i = 0; i < n; i++) {
                open += p[i] == '[';
                close += p[i] == ']';
        }
        while (n > 0 && p[n - 1] == ']' && close > open) { /* the end of "[--root DIR]" */
                n--;
                close--;
        }
        return n;
}

/* Calls fn for each option ("--name", or "--name ARG") that text mentions: anywhere in a synopsis, and
 * only at the start of a line in an option text, whose descriptions may name other programs' options. */
static void text_foreach_option(
        const char *text,
        bool line_start_only,
        void (*fn)(const char *opt, size_t n, void *u),
        void *u) {
        for (const char *p = text; p && (p = strstr(p, "--"));) {
                const char *line = p;
                size_t n, a;

                while (line > text && line[-1] != '\n')
                        line--;
                if ((p > text && !strchr(" [|", p[-1])) ||
                    (line_start_only && line + strspn(line, " ") != p)) {
                        p += 2;
                        continue;
                }
                n = 2 + strspn(p + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
                /* one space, then the argument: options without one are followed by several */
                a = p[n] == ' ' ? option_argument_length(p + n + 1) : 0;
                fn(p, a > 0 ? n + 1 + a : n, u);
                p += n;
        }
}

typedef struct OptionList {
        char **l;
        size_t n, allocated;
} OptionList;

static void option_list_add(const char *opt, size_t n, void *u) {
        OptionList *ol = u;
        size_t name = strcspn(opt, " ");

        for (size_t i = 0; i < ol->n; i++)
                if (strneq(ol->l[i], opt, name) && strchr(" ", ol->l[i][name])) {
                        if (n > name && !ol->l[i][name]) { /* this mention names the argument */
                                free(ol->l[i]);
                                ol->l[i] = strndup(opt, n);
                        }
                        return;
                }
        (void) strv_push(&ol->l, &ol->n, &ol->allocated, strndup(opt, n));
}

static const char common_options_text[] = "--help --json --root DIR --dry-run --no-color";

static int list_options(const Verb *v) {
        OptionList ol = {};

        text_foreach_option(v->synopsis, false, option_list_add, &ol);
        text_foreach_option(v->options, true, option_list_add, &ol);
        text_foreach_option(common_options_text, false, option_list_add, &ol);
        for (size_t i = 0; i < ol.n; i++)
                puts(strna(ol.l[i]));
        strv_free(ol.l);
        return EXIT_OK;
}

/* One line per form of the verb's synopsis ("vm attach VMID | vm hook VMID PHASE | vm xml"): its
 * positional words after the verb, sub-verbs in lowercase, placeholders in capitals; options left out. */
static int list_arguments(const Verb *v) {
        const char *form = v->synopsis;

        while (form) {
                const char *end = strstr(form, " | ");
                _cleanup_free_ char *copy = end ? strndup(form, end - form) : strdup(form), *line = NULL;
                char *w, *save = NULL;
                bool first = true, skip_argument = false;

                if (!copy)
                        return log_error("Out of memory"), EXIT_PROBLEM;
                for (w = strtok_r(copy, " []", &save); w; w = strtok_r(NULL, " []", &save)) {
                        char *alt, *asave = NULL;

                        if (first && streq(w, v->name)) {
                                first = false;
                                continue;
                        }
                        first = false;
                        if (skip_argument && option_argument_length(w) > 0) {
                                skip_argument = false;
                                continue;
                        }
                        skip_argument = false;
                        /* DEVICE|--port: keep the words that are not options */
                        for (alt = strtok_r(w, "|", &asave); alt; alt = strtok_r(NULL, "|", &asave)) {
                                if (strneq(alt, "--", 2)) {
                                        skip_argument = true;
                                        continue;
                                }
                                if (strextendf_with_separator(&line, " ", "%s", alt) < 0)
                                        return log_error("Out of memory"), EXIT_PROBLEM;
                        }
                }
                puts(strempty(line));
                form = end ? end + 3 : NULL;
        }
        return EXIT_OK;
}

/* A word a shell may complete: nothing it would have to quote. */
static bool completion_word_ok(const char *s) {
        return s && *s &&
                s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:._/-")] == 0;
}

static int list_verbs(void) {
        FOREACH_ARRAY(v, verbs, ELEMENTSOF(verbs))
                puts(v->name);
        return EXIT_OK;
}

/* The devices a DEVICE argument may name: connected Thunderbolt devices, then the enrolled ones by
 * unique_id or port. */
static int list_devices(void) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};

        log_set_max_level(LOG_ERR); /* a completion prints no warnings */
        (void) enrolled_load_verbose(&enrolled, NULL);
        if (host_load_verbose(&enrolled, &udev, &h) >= 0)
                FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices)
                        if (!(*t)->host_router && completion_word_ok((*t)->name))
                                puts((*t)->name);
        FOREACH_ARRAY(e, enrolled.list, enrolled.n) {
                const char *key = (*e)->unique_id ?: (*e)->port;
                if (completion_word_ok(key))
                        puts(key);
        }
        return EXIT_OK;
}

/* Where a run reads and writes /etc, the store and the lock when --root is not given: $EGPUCTL_ROOT
 * (tests/run-scenario and egpu-sim set it to their copy of the scenario's root/); inside any other
 * umockdev testbed the testbed's folder; else the host. So that a simulated run never touches the host. */
static const char *root_default(void) {
        const char *e = getenv("EGPUCTL_ROOT");

        if (e && *e)
                return e;
        return strempty(umockdev_testbed());
}

/* Colour only on a terminal; $NO_COLOR set and not empty turns it off (https://no-color.org), as does a
 * terminal that cannot show it (TERM=dumb). */
static bool color_wanted(void) {
        const char *nc = getenv("NO_COLOR");

        return isatty(STDOUT_FILENO) && !(nc && *nc) && !streq_ptr(getenv("TERM"), "dumb");
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = ARG_VERB_FIRST, ARG_LIST_VERBS, ARG_LIST_DEVICES };
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "version", no_argument, NULL, ARG_VERSION },
                { "list-verbs", no_argument, NULL, ARG_LIST_VERBS },     /* hidden: for completion */
                { "list-devices", no_argument, NULL, ARG_LIST_DEVICES }, /* hidden: for completion */
                {},
        };
        const Verb *verb;
        const char *e;
        int c;

        e = getenv("EGPUCTL_LOG_LEVEL");
        if (e && streq(e, "debug"))
                log_set_max_level(LOG_DEBUG);
        arg_global.no_color = !color_wanted();
        arg_global.root = root_default();

        /* Installed as a Proxmox hookscript (a link named egpuctl-hook): "egpuctl-hook VMID PHASE". */
        if (argc > 0 && invoked_as_hookscript(argv[0]))
                return verb_vm_hookscript(argc, argv);

        /* "+": stop at the verb, which parses what follows itself. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
                if (c == ARG_VERSION) {
                        printf("egpuctl %s\n", PACKAGE_VERSION);
                        return EXIT_OK;
                }
                if (c == ARG_LIST_VERBS)
                        return list_verbs();
                if (c == ARG_LIST_DEVICES)
                        return list_devices();
                int r = verb_common_option(NULL, c);
                if (r < 0)
                        return EXIT_OK;
                if (r > 0)
                        return r;
        }

        if (optind >= argc)
                return usage_error(NULL, "no verb given");
        verb = verb_find(argv[optind]);
        if (!verb)
                return usage_error(NULL, "unknown verb '%s'", argv[optind]);

        if (argc - optind == 2 && streq(argv[optind + 1], "--list-options"))
                return list_options(verb);
        if (argc - optind == 2 && streq(argv[optind + 1], "--list-arguments"))
                return list_arguments(verb);

        /* The verb parses its own options from its own argv, argv[0] being its name. */
        argc -= optind;
        argv += optind;
        optind = 0;
        return verb->fn(argc, argv);
}
