/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fnmatch.h>

#include "conf-files.h"

#include "modprobe-config.h"
#include "util.h"

static const char *const command_table[_MODPROBE_COMMAND_MAX] = {
        [MODPROBE_ALIAS] = "alias",   [MODPROBE_OPTIONS] = "options",     [MODPROBE_INSTALL] = "install",
        [MODPROBE_REMOVE] = "remove", [MODPROBE_BLACKLIST] = "blacklist", [MODPROBE_SOFTDEP] = "softdep",
};

const char *modprobe_command_to_string(ModprobeCommand c) {
        return string_table_get(command_table, _MODPROBE_COMMAND_MAX, c, "invalid");
}

static ModprobeCommand command_from_string(const char *s) {
        return (ModprobeCommand) string_table_lookup(command_table, _MODPROBE_COMMAND_MAX, s);
}

static void entry_done(ModprobeEntry *e) {
        free(e->file);
        free(e->module);
        strv_free(e->args);
        strv_free(e->pre);
        strv_free(e->post);
}

void modprobe_config_done(ModprobeConfig *c) {
        for (size_t i = 0; i < c->n_entries; i++)
                entry_done(&c->entries[i]);
        free(c->entries);
        free(c->first_invalid);
        *c = (ModprobeConfig){};
}

char *modprobe_normalize(const char *name) {
        char *s = strdup(name);

        if (!s)
                return NULL;
        for (char *p = s; *p; p++)
                if (*p == '-')
                        *p = '_';
        return s;
}

bool modprobe_name_eq(const char *a, const char *b) {
        for (; *a && *b; a++, b++) {
                char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
                if (x != y)
                        return false;
        }
        return *a == *b;
}

/* Splits at spaces and tabs. Quotes are not special for kmod's tokenizer, except inside option values,
 * which the kernel's parameter parser reads: "key="a b"" is one option. */
static int split_words(const char *s, bool respect_quotes, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, allocated = 1; /* kept here, not found again for each word: linear in s */
        const char *p = s;

        l = calloc(allocated, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (;;) {
                const char *start;
                bool quoted = false;
                int r;

                p += strspn(p, " \t\r\n");
                if (!*p)
                        break;
                start = p;
                for (; *p; p++) {
                        if (respect_quotes && *p == '"')
                                quoted = !quoted;
                        else if (!quoted && strchr(" \t\r\n", *p))
                                break;
                }
                r = strv_push(&l, &n, &allocated, strndup(start, (size_t) (p - start)));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int note_invalid(ModprobeConfig *c, const char *file, unsigned line) {
        c->n_invalid++;
        if (!c->first_invalid && asprintf(&c->first_invalid, "%s:%u", file, line) < 0) {
                c->first_invalid = NULL;
                return -ENOMEM;
        }
        return 0;
}

static int strv_append_normalized(char ***l, const char *s) {
        _cleanup_free_ char *n = modprobe_normalize(s);

        if (!n)
                return -ENOMEM;
        return strv_extend(l, n);
}

/* Parses one joined command line. Returns 1 when an entry was added, 0 when the line is empty, a comment
 * or invalid (counted), -ENOMEM. */
static int parse_command(ModprobeConfig *c, const char *file, unsigned line, const char *text) {
        _cleanup_strv_free_ char **words = NULL;
        ModprobeEntry e = {};
        ModprobeCommand cmd;
        size_t n;
        int r;

        r = split_words(text, false, &words);
        if (r < 0)
                return r;
        n = strv_length(words);
        if (n == 0 || words[0][0] == '#')
                return 0;
        cmd = command_from_string(words[0]);
        if (cmd < 0 || n < 2)
                return note_invalid(c, file, line);

        switch (cmd) {
        case MODPROBE_ALIAS:
                if (n != 3)
                        return note_invalid(c, file, line);
                break;
        case MODPROBE_BLACKLIST:
                if (n != 2)
                        return note_invalid(c, file, line);
                break;
        case MODPROBE_INSTALL:
        case MODPROBE_REMOVE:
                if (n < 3)
                        return note_invalid(c, file, line);
                break;
        default:
                break;
        }

        e.command = cmd;
        e.line = line;
        e.file = strdup(file);
        /* An alias's first word is a wildcard pattern, kept as written. */
        e.module = cmd == MODPROBE_ALIAS ? strdup(words[1]) : modprobe_normalize(words[1]);
        e.args = calloc(1, sizeof(char *));
        e.pre = calloc(1, sizeof(char *));
        e.post = calloc(1, sizeof(char *));
        if (!e.file || !e.module || !e.args || !e.pre || !e.post) {
                entry_done(&e);
                return -ENOMEM;
        }

        switch (cmd) {
        case MODPROBE_ALIAS:
                r = strv_append_normalized(&e.args, words[2]);
                break;
        case MODPROBE_OPTIONS: {
                /* Re-split the rest with quotes respected, as the kernel parses parameters. */
                const char *rest = text;
                _cleanup_strv_free_ char **opts = NULL;

                for (int k = 0; k < 2; k++) {
                        rest += strspn(rest, " \t");
                        rest += strcspn(rest, " \t");
                }
                r = split_words(rest, true, &opts);
                if (r >= 0) {
                        strv_free(e.args);
                        e.args = TAKE_PTR(opts);
                }
                break;
        }
        case MODPROBE_INSTALL:
        case MODPROBE_REMOVE: {
                /* The command is the rest of the line after the module name, as written. */
                const char *rest = text;

                for (int k = 0; k < 2; k++) {
                        rest += strspn(rest, " \t");
                        rest += strcspn(rest, " \t");
                }
                rest += strspn(rest, " \t");
                _cleanup_free_ char *cmdline = strdup(rest);
                r = cmdline ? strv_extend(&e.args, strstrip_trailing(cmdline)) : -ENOMEM;
                break;
        }
        case MODPROBE_SOFTDEP: {
                char **target = NULL;
                size_t n_pre = 0, n_post = 0, *n_target = NULL;

                /* Each list holds fewer than n names: sized once, so that a long line stays linear. */
                strv_free(e.pre);
                strv_free(e.post);
                e.pre = calloc(n, sizeof(char *));
                e.post = calloc(n, sizeof(char *));
                r = e.pre && e.post ? 0 : -ENOMEM;
                for (size_t i = 2; i < n && r >= 0; i++) {
                        if (streq(words[i], "pre:")) {
                                target = e.pre;
                                n_target = &n_pre;
                        } else if (streq(words[i], "post:")) {
                                target = e.post;
                                n_target = &n_post;
                        } else if (!target) {
                                /* A module name before any "pre:"/"post:": kmod rejects the line. */
                                entry_done(&e);
                                return note_invalid(c, file, line);
                        } else {
                                target[*n_target] = modprobe_normalize(words[i]);
                                if (!target[*n_target])
                                        r = -ENOMEM;
                                else
                                        (*n_target)++;
                        }
                }
                break;
        }
        default:
                r = 0;
        }
        if (r < 0) {
                entry_done(&e);
                return r;
        }

        if (ARRAY_RESERVE(c->entries, c->n_entries_allocated, c->n_entries + 1) < 0) {
                entry_done(&e);
                return -ENOMEM;
        }
        c->entries[c->n_entries++] = e;
        return 1;
}

int modprobe_config_parse(ModprobeConfig *c, const char *file, const char *text) {
        _cleanup_free_ char *joined = NULL;
        size_t joined_len = 0,
               joined_allocated = 0; /* doubling: a long run of continued lines stays linear */
        unsigned line = 0, first_line = 0;
        const char *p = text;

        while (*p) {
                const char *eol = strchr(p, '\n');
                size_t len = eol ? (size_t) (eol - p) : strlen(p);
                bool cont;

                line++;
                if (!joined)
                        first_line = line;
                /* Drop a trailing '\r' (files edited elsewhere). */
                if (len > 0 && p[len - 1] == '\r')
                        len--;
                cont = len > 0 && p[len - 1] == '\\';
                if (cont)
                        len--;

                if (ARRAY_RESERVE(joined, joined_allocated, joined_len + len + 2) < 0)
                        return -ENOMEM;
                memcpy(joined + joined_len, p, len);
                joined_len += len;
                /* kmod joins continued lines without the backslash and newline; keep the words apart. */
                if (cont)
                        joined[joined_len++] = ' ';
                joined[joined_len] = 0;

                p = eol ? eol + 1 : p + len + strlen(p + len);
                if (cont && *p)
                        continue;

                int r = parse_command(c, file, first_line, joined);
                if (r < 0)
                        return r;
                joined = mfree(joined);
                joined_len = joined_allocated = 0;
        }
        if (joined) {
                int r = parse_command(c, file, first_line, joined);
                if (r < 0)
                        return r;
        }
        return 0;
}

const char *const modprobe_config_dirs[] = {
        "/etc/modprobe.d",     "/run/modprobe.d", "/usr/local/lib/modprobe.d",
        "/usr/lib/modprobe.d", "/lib/modprobe.d",
};
const size_t modprobe_n_config_dirs = ELEMENTSOF(modprobe_config_dirs);

static int parse_file(const char *path, const char *text, void *userdata) {
        return modprobe_config_parse(userdata, path, text);
}

int modprobe_config_load(ModprobeConfig *c, const char *root) {
        /* A file that cannot be read (a folder, a dangling link, too big): kmod skips it too. */
        return conf_files_parse(root, modprobe_config_dirs, modprobe_n_config_dirs, "*.conf", parse_file, c);
}

/* The first entry of the command whose module pattern matches module: kmod matches softdep and install
 * lines with fnmatch() and uses only the first ("as modprobe from module-init-tools does"). */
static const ModprobeEntry *find_first_match(
        const ModprobeConfig *c,
        ModprobeCommand cmd,
        const char *module) {
        _cleanup_free_ char *norm = modprobe_normalize(module);

        if (!norm)
                return NULL;
        FOREACH_ARRAY(e, c->entries, c->n_entries)
                if (e->command == cmd && fnmatch(e->module, norm, 0) == 0)
                        return e;
        return NULL;
}

const ModprobeEntry *modprobe_find_softdep(const ModprobeConfig *c, const char *module) {
        return find_first_match(c, MODPROBE_SOFTDEP, module);
}

bool modprobe_has_softdep_pre(const ModprobeConfig *c, const char *module, const char *dep) {
        const ModprobeEntry *e = modprobe_find_softdep(c, module);

        if (!e)
                return false;
        STRV_FOREACH(p, e->pre)
                if (modprobe_name_eq(*p, dep))
                        return true;
        return false;
}

static const ModprobeEntry *find_command(const ModprobeConfig *c, ModprobeCommand cmd, const char *module) {
        FOREACH_ARRAY(e, c->entries, c->n_entries)
                if (e->command == cmd && modprobe_name_eq(e->module, module))
                        return e;
        return NULL;
}

const ModprobeEntry *modprobe_find_blacklist(const ModprobeConfig *c, const char *module) {
        return find_command(c, MODPROBE_BLACKLIST, module);
}

const ModprobeEntry *modprobe_find_install(const ModprobeConfig *c, const char *module) {
        return find_first_match(c, MODPROBE_INSTALL, module);
}

const ModprobeEntry *modprobe_find_option(
        const ModprobeConfig *c,
        const char *module,
        const char *key,
        const char **ret_value) {
        const ModprobeEntry *found = NULL;
        const char *value = NULL;
        size_t kl = strlen(key);

        FOREACH_ARRAY(e, c->entries, c->n_entries) {
                if (e->command != MODPROBE_OPTIONS || !modprobe_name_eq(e->module, module))
                        continue;
                STRV_FOREACH(o, e->args) {
                        /* Parameter names treat '-' and '_' alike too (parameq() in the kernel). */
                        bool match = true;
                        for (size_t i = 0; i < kl; i++) {
                                char a = (*o)[i] == '-' ? '_' : (*o)[i], b = key[i] == '-' ? '_' : key[i];
                                if (a != b) {
                                        match = false;
                                        break;
                                }
                        }
                        if (!match)
                                continue;
                        if ((*o)[kl] == '=') {
                                found = e;
                                value = *o + kl + 1;
                        } else if ((*o)[kl] == 0) {
                                found = e;
                                value = "";
                        }
                }
        }
        if (found && ret_value)
                *ret_value = value;
        return found;
}

static bool parse_hex4(const char *s, size_t len, uint32_t *ret) {
        _cleanup_free_ char *w = NULL;

        if (len == 0 || len > 8)
                return false;
        w = strndup(s, len);
        return w && safe_atou32(w, 16, ret) >= 0;
}

size_t vfio_ids_parse(const char *value, uint32_t (*ids)[2], size_t max) {
        const char *p = value;
        size_t n = 0;

        if (*p == '"')
                p++;
        while (*p && n < max) {
                size_t len = strcspn(p, ",\"");
                const char *colon = memchr(p, ':', len);
                uint32_t v, d;

                if (colon) {
                        size_t dl = strcspn(colon + 1, ":,\"");
                        if (parse_hex4(p, (size_t) (colon - p), &v) && parse_hex4(colon + 1, dl, &d) &&
                            v <= 0xffff && d <= 0xffff) {
                                ids[n][0] = v;
                                ids[n][1] = d;
                                n++;
                        }
                }
                p += len;
                if (*p)
                        p++;
        }
        return n;
}
