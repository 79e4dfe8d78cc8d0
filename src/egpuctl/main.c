/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>
#include <syslog.h>

#include "config.h"
#include "egpuctl.h"

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
          "vm attach VMID | vm hook VMID PHASE | vm xml",
          "Give the eGPU to a Proxmox VM through a PCI mapping, run as its hookscript, or print libvirt XML",
          "     --mapping NAME  vm attach: the cluster PCI mapping to create or update (default egpu)\n"
          "     --gpu BDF       vm attach, vm xml: which eGPU, when there are several\n"
          "     --node NAME     vm attach: the Proxmox node name (default: this host's name)\n" },
        { "enroll",
          0,
          1,
          verb_enroll,
          "enroll DEVICE|--port PORT --ids IDS [--policy auto|manual]",
          "Allow a Thunderbolt device (1-1 or its unique_id) to be authorized, or a PCIe eGPU (its "
          "display function's address, or a port and ids) to be taken",
          "  --policy auto|manual  auto: the daemon attaches it when it appears (default);\n"
          "                        manual: only 'egpuctl attach' does\n"
          "  --port PORT           A PCIe port path (see 'egpuctl status --json'), for an empty slot\n"
          "  --ids VVVV:DDDD[:SSSS:SSSS]  The ids the GPU in that port must have\n" },
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
          "daemon",
          "Attach enrolled eGPUs at start and on hot-plug; detach them at system shutdown",
          NULL },
        { "doctor",
          0,
          0,
          verb_doctor,
          "doctor [--json] [--root DIR] [--list]",
          "Check everything eGPU passthrough needs, and say how to mend what is wrong",
          "  --list             List the checks, in the order they run, and what each looks at\n" },
};

const Verb *verb_find(const char *name) {
        FOREACH_ARRAY(v, verbs, ELEMENTSOF(verbs))
                if (streq(v->name, name))
                        return v;
        return NULL;
}

static void help(void) {
        printf("egpuctl %s: Thunderbolt/USB4 and PCIe eGPU passthrough to virtual machines.\n\n"
               "Usage: egpuctl [OPTIONS] VERB [ARGS...]\n\n"
               "Verbs:\n",
               PACKAGE_VERSION);
        FOREACH_ARRAY(v, verbs, ELEMENTSOF(verbs))
                printf("  %-32s %s\n", v->synopsis, v->summary);
        printf("\nOptions (also after the verb):\n"
               "  -h --help         Show this help, or a verb's with VERB --help\n"
               "     --version      Show the version\n"
               "     --json         Print JSON for scripts\n"
               "     --root DIR     Read and write configuration files under DIR\n"
               "     --dry-run      Show what would change, change nothing\n"
               "     --no-color     No colours even on a terminal\n"
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

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = ARG_VERB_FIRST };
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        const Verb *verb;
        const char *e;
        int c;

        /* Installed as a Proxmox hookscript (a link named egpuctl-hook): "egpuctl-hook VMID PHASE". */
        if (argc > 0 && invoked_as_hookscript(argv[0]))
                return verb_vm_hookscript(argc, argv);

        e = getenv("EGPUCTL_LOG_LEVEL");
        if (e && streq(e, "debug"))
                log_set_max_level(LOG_DEBUG);
        if (!isatty(STDOUT_FILENO) || getenv("NO_COLOR"))
                arg_global.no_color = true;

        /* "+": stop at the verb, which parses what follows itself. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
                if (c == ARG_VERSION) {
                        printf("egpuctl %s\n", PACKAGE_VERSION);
                        return EXIT_OK;
                }
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

        /* The verb parses its own options from its own argv, argv[0] being its name. */
        argc -= optind;
        argv += optind;
        optind = 0;
        return verb->fn(argc, argv);
}
