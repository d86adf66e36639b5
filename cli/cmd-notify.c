/* notify test: one mail through [notify] now, to check the smart host,
 * the credentials and the recipients before an alert needs them; and
 * cli_notify_settings(), through which runs mail their alerts. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "util/util.h"
#include "notify/notify.h"
#include "cli/cli.h"
#include "cli/output.h"

int
cli_notify_settings(struct cli *cli, struct notify_settings *settings,
		    char **password_r)
{
	const struct config *c;
	const char *error;

	memset(settings, 0, sizeof(*settings));
	*password_r = NULL;
	if (cli_load_config(cli) != EXIT_OK)
		return EXIT_CONFIG;
	c = cli->config;
	if (config_notify_password(c, password_r, &error) < 0) {
		cli_error("%s", error);
		return EXIT_CONFIG;
	}
	settings->smtp_url = c->notify_smtp_url;
	settings->ca_file = c->notify_ca_file;
	settings->verify = c->notify_verify;
	settings->username = c->notify_username;
	settings->password = *password_r;
	settings->from = c->notify_from;
	settings->to = (const char *const *)c->notify_to;
	settings->to_count = c->notify_to_count;
	settings->site = c->notify_site;
	settings->always = c->notify_always;
	settings->remind = c->notify_remind;
	if (settings->smtp_url != NULL &&
	    notify_settings_check(settings, &error) < 0) {
		cli_error("%s: %s", c->path, error);
		secret_free(password_r);
		memset(settings, 0, sizeof(*settings));
		return EXIT_CONFIG;
	}
	return EXIT_OK;
}

/* "a@x, b@y" of the configured recipients (caller frees). */
static char *
recipients_text(const struct notify_settings *s)
{
	struct buf b;
	size_t len;

	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < s->to_count; i++)
		buf_printf(&b, "%s%s", i > 0 ? ", " : "", s->to[i]);
	return (char *)buf_steal(&b, &len);
}

static void
print_json(const struct notify_settings *s, bool sent, const char *reply,
	   const char *error)
{
	json_t *root, *to = json_array();

	for (size_t i = 0; i < s->to_count; i++)
		json_array_append_new(to, output_json_text(s->to[i]));
	root = json_pack("{s:b, s:o, s:o, s:o}", "sent", sent,
			 "server", output_json_text(s->smtp_url), "to", to,
			 "reply", reply != NULL ? output_json_text(reply) :
			 json_null());
	if (root == NULL)
		fatal("cannot build the JSON output");
	if (error != NULL)
		json_object_set_new(root, "error", output_json_text(error));
	output_json_print(root);
}

static int
notify_test(struct cli *cli)
{
	struct notify_settings settings;
	char *password = NULL, *reply = NULL, *to;
	const char *error = NULL;
	int ret;

	if ((ret = cli_load_config(cli)) != EXIT_OK)
		return ret;
	if (cli->config->notify_smtp_url == NULL) {
		cli_error("notify test: [notify] smtp_url is not set in %s: there "
			  "is no smart host to send through", cli->config->path);
		return EXIT_CONFIG;
	}
	if ((ret = cli_notify_settings(cli, &settings, &password)) != EXIT_OK)
		return ret;
	ret = notify_send_test(&settings, (int64_t)time(NULL), &reply, &error);
	to = recipients_text(&settings);
	if (cli->json)
		print_json(&settings, ret == 0, reply, ret == 0 ? NULL : error);
	if (ret == 0) {
		if (!cli->json && !cli->quiet)
			printf("mmirror: notify test: sent to %s via %s: %s\n", to,
			       settings.smtp_url, reply != NULL ? reply : "(no reply)");
		ret = EXIT_OK;
	} else {
		cli_error("notify test: not sent to %s: %s", to, error);
		ret = ret == NOTIFY_UNREACHABLE ? EXIT_UNAVAILABLE : EXIT_PARTIAL;
	}
	free(to);
	free(reply);
	secret_free(&password);
	return ret;
}

int
cmd_notify(struct cli *cli, int argc, char **argv)
{
	/* "notify test": --help was answered from the table of commands */
	if (argc < 2 || strcmp(argv[1], "test") != 0) {
		cli_usage_error("notify: the only sub-command is 'test'");
		return EXIT_USAGE;
	}
	if (argc > 2) {
		cli_usage_error("notify test: unknown argument '%s'", argv[2]);
		return EXIT_USAGE;
	}
	return notify_test(cli);
}
