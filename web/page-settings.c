/* web page: the settings (GET /settings) and their edits (POST
 * /settings/set, /settings/unset, /settings/secret).
 *
 * The edits are cli/settings-edit.h's, in this process, as `mmirror
 * config set --expect VERSION` makes them: one line changed and every
 * other byte kept, the result checked by the loader the command line
 * uses, FILE.prev saved, the file written atomically.  Every form
 * carries the version of the file the page showed, so that an edit made
 * from a page older than the file is refused as a conflict, never
 * written over somebody else's.  The status of the edit (conflict,
 * refused by the loader) decides the answer, which is why the library
 * is called rather than the command.
 *
 * Secrets: a *password_file key's value is a path and is shown; the
 * password in the file never is, only whether there is one, and a form
 * of its own replaces it (settings_secret_write(), as `config secret`).
 * A new secret goes to that file only: not to the page, the log, the
 * audit log or a notice. */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "util/util.h"
#include "cli/settings.h"
#include "cli/settings-edit.h"
#include "web/html.h"
#include "web/page.h"
#include "web/server-private.h"
#include "web/settings-view.h"

/* How much of the end of the audit log is read to tell who made the
 * configuration's current version. */
#define AUDIT_TAIL_MAX (1024 * 1024)

/* The file as a page shows it. */
struct settings_state {
	const char *path;
	char *text;
	size_t len;
	char version[SETTINGS_VERSION_SIZE];
	struct settings_entry *entries;
	size_t count;
	struct config *config;		/* NULL: the loader refuses the file */
	char *load_error;		/* the loader's message, or NULL */
};

static int
settings_state_read(const char *path, struct settings_state *st,
		    const char **error_r)
{
	const char *error;

	memset(st, 0, sizeof(*st));
	st->path = path;
	if (settings_file_read(path, &st->text, &st->len, st->version,
			       error_r) < 0)
		return -1;
	settings_list(st->text, st->len, &st->entries, &st->count);
	if (config_load_text(path, st->text, st->len, &st->config, &error) < 0)
		st->load_error = xstrdup(error);
	return 0;
}

static void
settings_state_free(struct settings_state *st)
{
	settings_entries_free(&st->entries, st->count);
	config_free(&st->config);
	free(st->load_error);
	free(st->text);
}

/* ---- rendering ---- */

/* The hidden fields every form of the page carries. */
static void
edit_fields(struct html *h, const struct web_session_info *info,
	    const struct settings_state *st, const char *section,
	    const char *key)
{
	web_csrf_field(h, info);
	html_start(h, "input", "type", "hidden", "name", "section", "value",
		   section, NULL);
	html_start(h, "input", "type", "hidden", "name", "key", "value", key,
		   NULL);
	html_start(h, "input", "type", "hidden", "name", "version", "value",
		   st->version, NULL);
}

/* The forms of one key: set (not for a value that is itself a secret),
 * unset when the file gives it, replace the secret of a password file
 * the file names. */
static void
key_forms(struct html *h, const struct web_session_info *info,
	  const struct settings_state *st, const char *section,
	  const char *key, const struct settings_entry *e)
{
	char *label = xasprintf("[%s] %s", section, key);
	enum settings_secret secret = settings_key_secret(key);

	if (secret != SETTINGS_SECRET_VALUE) {
		html_start(h, "form", "method", "post", "action",
			   "/settings/set", "class", "setting", NULL);
		edit_fields(h, info, st, section, key);
		html_start(h, "input", "type", "text", "name", "value", "value",
			   e != NULL ? e->value : NULL, "aria-label", label,
			   "required", "", NULL);
		html_raw(h, "<button type=\"submit\">Set</button></form>\n");
	}
	if (e != NULL && *section != '\0') {
		html_start(h, "form", "method", "post", "action",
			   "/settings/unset", "class", "inline", NULL);
		edit_fields(h, info, st, section, key);
		html_raw(h, "<button type=\"submit\">Unset</button></form>\n");
	}
	if (secret == SETTINGS_SECRET_FILE && e != NULL) {
		char *secret_label = xasprintf("new secret for %s", label);

		html_start(h, "form", "method", "post", "action",
			   "/settings/secret", "class", "setting secret", NULL);
		edit_fields(h, info, st, section, key);
		html_start(h, "input", "type", "password", "name", "value",
			   "autocomplete", "new-password", "aria-label",
			   secret_label, "placeholder", "new secret",
			   "required", "", NULL);
		html_raw(h, "<button type=\"submit\">Replace the secret"
			 "</button></form>\n");
		free(secret_label);
	}
	free(label);
}

/* The value cell of a key the file gives. */
static void
value_given(struct html *h, const struct settings_entry *e)
{
	switch (e->secret) {
	case SETTINGS_SECRET_VALUE:
		html_element(h, "span", "secret", "(secret: set)");
		break;
	case SETTINGS_SECRET_FILE:
		html_start(h, "code", NULL);
		html_text(h, e->value);
		html_end(h, "code");
		html_element(h, "span", "secret",
			     settings_secret_is_set(e->value) ?
			     " (secret: set)" : " (secret: not set)");
		break;
	case SETTINGS_SECRET_NONE:
		html_start(h, "code", NULL);
		html_text(h, e->value);
		html_end(h, "code");
		break;
	}
}

/* The value cell of a known key the file leaves out: the loader's
 * default, as the file would spell it. */
static void
value_default(struct html *h, const struct settings_state *st,
	      const char *section, const struct config_section *known_section,
	      const struct config_key *known)
{
	char *shown;

	if (st->config == NULL) {
		html_element(h, "span", "muted", "(not given)");
		return;
	}
	shown = config_key_value(st->config, known_section, known);
	html_start(h, "span", "class", "muted", NULL);
	html_textf(h, "(default: %s)", shown != NULL ? shown :
		   web_settings_none(section, config_key_name(known)));
	html_end(h, "span");
	free(shown);
}

/* One row: a key the file gives (e), or a known key it does not (e
 * NULL, known and known_section given). */
static void
key_row(struct html *h, const struct web_session_info *info,
	const struct settings_state *st, const char *section,
	const struct config_section *known_section,
	const struct config_key *known, const struct settings_entry *e)
{
	const char *name = known != NULL ? config_key_name(known) : e->key;
	const struct web_settings_note *note;

	html_start(h, "tr", "class", e != NULL ? "given" : "default", NULL);
	html_start(h, "td", NULL);
	html_start(h, "code", NULL);
	html_text(h, name);
	html_end(h, "code");
	if (known == NULL)
		html_element(h, "div", "attention",
			     "not a key the loader knows here");
	else if ((note = web_settings_note_find(section, name)) != NULL)
		html_element(h, "div", "muted", note->note);
	html_end(h, "td");
	html_start(h, "td", NULL);
	if (e != NULL) {
		value_given(h, e);
		html_textf(h, " (line %u)", e->line);
	} else {
		value_default(h, st, section, known_section, known);
	}
	html_end(h, "td");
	html_start(h, "td", NULL);
	key_forms(h, info, st, section, name, e);
	html_end(h, "td");
	html_end(h, "tr");
}

static void
section_rows(struct html *h, const struct web_session_info *info,
	     const struct settings_state *st, const char *section,
	     const struct config_section *known)
{
	size_t count = known != NULL ? config_key_count(known) : 0;

	/* the loader's keys in its order, then what else the file holds */
	for (size_t k = 0; k < count; k++) {
		const struct config_key *key = config_key_at(known, k);
		const char *name = config_key_name(key);
		bool given = false;

		for (size_t i = 0; i < st->count; i++) {
			const struct settings_entry *e = &st->entries[i];

			if (str_ieq(e->section, section) &&
			    str_ieq(e->key, name)) {
				key_row(h, info, st, section, known, key, e);
				given = true;
			}
		}
		if (!given)
			key_row(h, info, st, section, known, key, NULL);
	}
	for (size_t i = 0; i < st->count; i++) {
		const struct settings_entry *e = &st->entries[i];

		if (str_ieq(e->section, section) &&
		    (known == NULL || config_key_find(known, e->key) == NULL))
			key_row(h, info, st, section, NULL, NULL, e);
	}
}

static void
section_table(struct html *h, const struct web_session_info *info,
	      const struct settings_state *st, const char *section,
	      const struct config_section *known)
{
	static const char *const head[] = { "Key", "Value", "Change" };
	const char *about = known != NULL ? web_settings_about(section) : NULL;

	if (about != NULL)
		html_element(h, "p", "muted", about);
	else if (known == NULL && *section != '\0')
		html_element(h, "p", "attention", "Not a section the loader "
			     "knows.");
	html_start(h, "table", "class", "settings", NULL);
	html_head_row(h, head, N_ELEMENTS(head));
	section_rows(h, info, st, section, known);
	html_raw(h, "</tbody></table>\n");
}

/* Has entry i's section appeared before it in the file? */
static bool
section_seen_before(const struct settings_state *st, size_t i)
{
	for (size_t j = 0; j < i; j++) {
		if (str_ieq(st->entries[j].section, st->entries[i].section))
			return true;
	}
	return false;
}

/* Does the file give a key of section?  (A section without keys has
 * nothing to show but its name: it is listed with the absent ones.) */
static bool
section_in_file(const struct settings_state *st, const char *section)
{
	for (size_t i = 0; i < st->count; i++) {
		if (str_ieq(st->entries[i].section, section))
			return true;
	}
	return false;
}

static void
settings_intro(struct html *h, const struct settings_state *st,
	       const char *error)
{
	if (error != NULL)
		html_element(h, "p", "attention", error);
	html_start(h, "p", NULL);
	html_text(h, "The configuration file ");
	html_start(h, "code", NULL);
	html_text(h, st->path);
	html_end(h, "code");
	html_text(h, ", version ");
	html_start(h, "code", "class", "version", NULL);
	html_text(h, st->version);
	html_end(h, "code");
	html_text(h, ".");
	html_end(h, "p");
	if (st->load_error != NULL) {
		html_start(h, "p", "class", "attention", NULL);
		html_text(h, "The file as it is now does not load, so every "
			  "command refuses to run: ");
		html_text(h, st->load_error);
		html_end(h, "p");
	}
	html_start(h, "p", "class", "muted", NULL);
	html_textf(h, "Each change is checked by the loader the command line "
		   "uses (mmirror config set) before it is written; the "
		   "previous text is kept in %s.prev. Passes already running "
		   "keep what they read at their start, the next ones read "
		   "the change. Passwords are never shown: only whether the "
		   "file named by a password_file key holds one.", st->path);
	html_end(h, "p");
}

/* The whole page, with error on top when an edit was refused. */
static void
settings_render(struct web_request *req, struct web_response *resp,
		const struct web_session_info *info, unsigned int status,
		const char *error)
{
	const char *path = req->server->settings->config_path, *read_error;
	struct settings_state st;
	struct html h;

	if (settings_state_read(path, &st, &read_error) < 0) {
		log_error("web: settings for %s: %s", info->user, read_error);
		web_message_page(resp, 500, "Settings", read_error);
		return;
	}
	web_page_begin(&h, req, resp, "Settings", HTML_NAV_SETTINGS, info);
	resp->status = status;
	settings_intro(&h, &st, error);
	for (size_t i = 0; i < st.count; i++) {
		const char *name = st.entries[i].section;

		if (section_seen_before(&st, i))
			continue;
		html_start(&h, "h2", NULL);
		html_textf(&h, *name != '\0' ? "[%s]" : "%s(before any section)",
			   name);
		html_end(&h, "h2");
		section_table(&h, info, &st, name, config_section_find(name));
	}
	html_element(&h, "h2", NULL, "Sections not in the file");
	for (size_t i = 0; i < config_section_count(); i++) {
		const struct config_section *section = config_section_at(i);
		const char *name = config_section_name(section);

		if (section_in_file(&st, name))
			continue;
		html_start(&h, "details", "class", "settings", NULL);
		html_start(&h, "summary", NULL);
		html_textf(&h, "[%s]", name);
		html_end(&h, "summary");
		section_table(&h, info, &st, name, section);
		html_end(&h, "details");
	}
	web_page_end(&h, resp);
	settings_state_free(&st);
}

void
web_page_settings(struct web_request *req, struct web_response *resp,
		  const struct web_session_info *info)
{
	settings_render(req, resp, info, 200, NULL);
}

/* ---- who changed it ---- */

/* Does audit line (JSON) record an edit through this page whose result
 * is version?  Sets *who_r ("ACCOUNT at TIME", the caller frees). */
static bool
audit_line_made(const char *line, size_t len, const char *version,
		char **who_r)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	const char *action, *outcome, *account, *stamp;
	bool made = false;

	if (o != NULL &&
	    json_unpack(o, "{s:s, s:s, s:s, s:s}", "action", &action, "outcome",
			&outcome, "account", &account, "time", &stamp) == 0 &&
	    strncmp(action, "config ", 7) == 0 &&
	    strstr(outcome, version) != NULL && strncmp(outcome, "ok", 2) == 0) {
		free(*who_r);
		*who_r = xasprintf("%s at %s", account, stamp);
		made = true;
	}
	json_decref(o);
	return made;
}

/* Who made the file's version through this web administration,
 * according to the end of the audit log: "ACCOUNT at TIME" (the caller
 * frees), or NULL when none of its edits did (mmirror config, an
 * editor). */
static char *
version_author(struct web_server *server, const char *version)
{
	char *path = xasprintf("%s/web-audit.log", server->settings->state_dir);
	char *who = NULL, *text = NULL;
	struct stat st;
	off_t from;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	free(path);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto out;
	from = st.st_size > AUDIT_TAIL_MAX ? st.st_size - AUDIT_TAIL_MAX : 0;
	text = xmalloc(AUDIT_TAIL_MAX + 1);
	n = pread(fd, text, AUDIT_TAIL_MAX, from);
	if (n <= 0)
		goto out;
	/* the last line that made it wins: read them all in order */
	for (size_t p = 0; p < (size_t)n;) {
		const char *nl = memchr(text + p, '\n', (size_t)n - p);
		size_t end = nl != NULL ? (size_t)(nl - text) : (size_t)n;

		(void)audit_line_made(text + p, end - p, version, &who);
		p = end + 1;
	}
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return who;
}

/* The conflict's message: who changed the file, what to do. */
static char *
conflict_text(struct web_server *server, const char *expected)
{
	char now[SETTINGS_VERSION_SIZE] = "", *text, *who;
	size_t len;
	const char *error;

	if (settings_file_read(server->settings->config_path, &text, &len, now,
			       &error) == 0)
		free(text);
	who = now[0] != '\0' ? version_author(server, now) : NULL;
	text = xasprintf("The configuration changed since you opened this "
			 "page (by %s%s): reload the page and try again. "
			 "Nothing was written. (The page showed version %.12s, "
			 "the file is now at %.12s.)",
			 who != NULL ? who : "somebody outside this web "
			 "administration: mmirror config, or an editor",
			 who != NULL ? ", through this web administration" : "",
			 expected, now[0] != '\0' ? now : "(unreadable)");
	free(who);
	return text;
}

/* ---- the edits ---- */

/* The form's section, key and version, or a 400 page. */
static bool
edit_form(struct web_request *req, struct web_response *resp,
	  char **section_r, char **key_r, char **version_r)
{
	*section_r = web_post_value(req, "section");
	*key_r = web_post_value(req, "key");
	*version_r = web_post_value(req, "version");
	if (*section_r != NULL && *key_r != NULL && *version_r != NULL &&
	    strlen(*version_r) == SHA256_HEX_LEN)
		return true;
	web_message_page(resp, 400, "Settings", "The form lacks the section, "
			 "the key or the version of the file it was made from: "
			 "reload the settings page and try again.");
	return false;
}

/* The notice of an edit that was written. */
static char *
edit_notice(const struct settings_edit *edit, const char *detail,
	    const struct settings_edit_result *result, const char *path)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	if (!result->changed)
		(void)buf_printf(&b, "%s: the file already said so; nothing was "
				 "written.", detail);
	else
		(void)buf_printf(&b, "%s %s; the previous text is in %s.prev. "
				 "Passes already running keep what they read at "
				 "their start; the next ones use the change.",
				 detail, edit->op == SETTINGS_EDIT_SET ?
				 "written" : "removed", path);
	if (result->changed &&
	    web_settings_restart_needed(edit->section, edit->key))
		(void)buf_printf(&b, " mmirror web reads [%s] %s only when it "
				 "starts: restart it (systemctl restart "
				 "mmirror-web) for this change to take effect "
				 "here.", edit->section, edit->key);
	(void)buf_append(&b, "", 1);
	return (char *)buf_steal(&b, &len);
}

static void
settings_edit(struct web_request *req, struct web_response *resp,
	      const struct web_session_info *info, enum settings_edit_op op)
{
	const char *action = op == SETTINGS_EDIT_SET ? "config set" :
		"config unset";
	const char *path = req->server->settings->config_path, *error;
	char *section, *key, *version, *value = NULL, *detail = NULL;
	char *outcome = NULL, *message = NULL;
	struct settings_edit edit;
	struct settings_edit_result result;
	int status;

	if (!edit_form(req, resp, &section, &key, &version))
		goto out;
	if (op == SETTINGS_EDIT_SET &&
	    (value = web_post_value(req, "value")) == NULL) {
		web_message_page(resp, 400, "Settings", "The form lacks the "
				 "value.");
		goto out;
	}
	memset(&edit, 0, sizeof(edit));
	edit.op = op;
	edit.section = section;
	edit.key = key;
	edit.value = value;
	edit.expect_version = version;
	detail = web_settings_edit_text(op, section, key, value);
	status = settings_edit_apply(path, &edit, &result, &error);
	switch (status) {
	case SETTINGS_EDIT_OK:
		outcome = xasprintf("%s: version %s", result.changed ? "ok" :
				    "ok, unchanged", result.new_version);
		web_audit(req, info, action, detail, outcome);
		message = edit_notice(&edit, detail, &result, path);
		web_redirect_notice(resp, "/settings", message);
		break;
	case SETTINGS_EDIT_CONFLICT:
		message = conflict_text(req->server, version);
		web_audit(req, info, action, detail, "refused: conflict, the "
			  "file changed since the page was read");
		settings_render(req, resp, info, 409, message);
		break;
	case SETTINGS_EDIT_INVALID:
	case SETTINGS_EDIT_REFUSED:
		outcome = xasprintf("refused: %s", error);
		message = xasprintf("%s refused, nothing was written: %s",
				    detail, error);
		web_audit(req, info, action, detail, outcome);
		settings_render(req, resp, info, 400, message);
		break;
	default:
		outcome = xasprintf("failed: %s", error);
		message = xasprintf("%s failed, the file is as it was: %s",
				    detail, error);
		web_audit(req, info, action, detail, outcome);
		settings_render(req, resp, info, 500, message);
		break;
	}
out:
	free(message);
	free(outcome);
	free(detail);
	free(value);
	free(version);
	free(key);
	free(section);
}

void
web_settings_set(struct web_request *req, struct web_response *resp,
		 const struct web_session_info *info)
{
	settings_edit(req, resp, info, SETTINGS_EDIT_SET);
}

void
web_settings_unset(struct web_request *req, struct web_response *resp,
		   const struct web_session_info *info)
{
	settings_edit(req, resp, info, SETTINGS_EDIT_UNSET);
}

/* ---- the secrets ---- */

/* The file that [section] key names in the configuration at version
 * (the caller frees); NULL with the answer given (409, 400, 500). */
static char *
secret_path_at(struct web_request *req, struct web_response *resp,
	       const struct web_session_info *info, const char *section,
	       const char *key, const char *version, const char **why_r)
{
	const char *path = req->server->settings->config_path, *error;
	char now[SETTINGS_VERSION_SIZE], *text, *file, *message;
	size_t len;

	if (settings_file_read(path, &text, &len, now, &error) < 0) {
		*why_r = "failed: the configuration cannot be read";
		settings_render(req, resp, info, 500, error);
		return NULL;
	}
	file = settings_text_get(text, len, section, key);
	free(text);
	if (strcasecmp(now, version) != 0) {
		*why_r = "refused: conflict, the file changed since the page "
			"was read";
		message = conflict_text(req->server, version);
		settings_render(req, resp, info, 409, message);
		free(message);
		free(file);
		return NULL;
	}
	if (file == NULL) {
		*why_r = "refused: the key is not set";
		message = xasprintf("[%s] %s is not set: set the path of its "
				    "file first.", section, key);
		settings_render(req, resp, info, 400, message);
		free(message);
	}
	return file;
}

void
web_settings_secret(struct web_request *req, struct web_response *resp,
		    const struct web_session_info *info)
{
	char *section, *key, *version, *secret = NULL, *file = NULL;
	char *detail = NULL, *message = NULL, *outcome = NULL;
	const char *why = NULL, *error;

	if (!edit_form(req, resp, &section, &key, &version))
		goto out;
	secret = web_post_value(req, "value");
	detail = xasprintf("[%s] %s: secret replaced", section, key);
	if (settings_key_secret(key) != SETTINGS_SECRET_FILE) {
		why = "refused: not a password file key";
		message = xasprintf("[%s] %s does not name a secret file (the "
				    "*password_file keys do).", section, key);
		settings_render(req, resp, info, 400, message);
	} else if (secret == NULL || *secret == '\0') {
		why = "refused: no new secret given";
		settings_render(req, resp, info, 400, "The new secret is "
				"empty: nothing was written.");
	} else if ((file = secret_path_at(req, resp, info, section, key,
					  version, &why)) == NULL) {
		/* answered */
	} else if (settings_secret_write(file, secret, strlen(secret),
					 &error) < 0) {
		/* the message names the file, never the secret */
		outcome = xasprintf("failed: %s", error);
		why = outcome;
		message = xasprintf("The secret was not replaced: %s", error);
		settings_render(req, resp, info, 500, message);
	} else {
		why = "ok";
		message = xasprintf("[%s] %s: the secret in %s was replaced. "
				    "Commands that connect read it when they "
				    "start.", section, key, file);
		web_redirect_notice(resp, "/settings", message);
	}
	web_audit(req, info, "config secret", detail, why);
out:
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	free(outcome);
	free(message);
	free(detail);
	free(file);
	free(version);
	free(key);
	free(section);
}
