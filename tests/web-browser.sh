#!/bin/bash
# The web administration in a real browser: headless Chromium driven by
# Selenium (tests/browser/test_browser.py) against `mmirror web` over
# HTTPS, on a mirror of real servers.  A production and a backup store
# from fixtures/ (the first pairing of MMIRROR_PAIRS, default
# dovecot:cyrus) with a corpus for 2001, 2002 and 2003; 2001 and 2002
# subscribed and mirrored by a first `mmirror sync`; an admin account
# made by `mmirror web passwd --stdin`; a self-signed certificate of the
# test's own, the only one Chromium accepts.  The browser logs in, reads
# the dashboard, sees a folder frozen by a sync after production lost
# 2002's INBOX, adds and disables a subscription, changes a setting,
# has a value refused, releases the frozen folder, and logs out.
#
# Skipped (77) without chromium, chromedriver or python3-selenium, unless
# CI is set: then they must be there, and their absence fails.  Skipped
# without the fixture servers, as the other integration tests are.
#
#   MMIRROR_BIN          the mmirror binary (make check sets it)
#   MMIRROR_WEB_BIN      another binary for `mmirror web` alone, e.g. one
#                        built with --enable-sanitizers: its log must
#                        then hold no AddressSanitizer or UBSan report
#   WEB_SCREENSHOTS=DIR  keep the screenshots (NN-step.png) in DIR
#   WEB_STEPS="a b"      run only these steps (names as printed)
#   CHROMIUM, CHROMEDRIVER, BROWSER_PYTHON
#                        the browser, its driver and the python3 with
#                        selenium (default /usr/bin/...)
set -u

mmirror=${MMIRROR_BIN:-$(pwd)/mmirror}
web_bin=${MMIRROR_WEB_BIN:-$mmirror}
fixtures=${MMIRROR_FIXTURES:-${srcdir:-.}/fixtures}
browser_dir=$(cd "$(dirname "$0")" && pwd)/browser
chromium=${CHROMIUM:-/usr/bin/chromium}
chromedriver=${CHROMEDRIVER:-/usr/bin/chromedriver}
python=${BROWSER_PYTHON:-/usr/bin/python3}
users="2001 2002 2003"

# missing WHAT: a skip, or in CI a failure
missing()
{
	if [ -n "${CI:-}" ]; then
		echo "FAIL: $* (CI is set: scripts/deps installs it)"
		exit 1
	fi
	echo "skipped: $*"
	exit 77
}

[ -x "$mmirror" ] || { echo "no mmirror binary at $mmirror"; exit 99; }
[ -x "$web_bin" ] || { echo "no mmirror binary at $web_bin"; exit 99; }
[ -x "$chromium" ] || missing "no $chromium (Debian package chromium)"
[ -x "$chromedriver" ] ||
	missing "no $chromedriver (Debian package chromium-driver)"
"$python" -c 'import selenium' 2>/dev/null ||
	missing "$python cannot import selenium (Debian package python3-selenium)"
command -v openssl >/dev/null 2>&1 || missing "no openssl"

pairing=${MMIRROR_PAIRS:-dovecot:cyrus}
pairing=${pairing%% *}
prod_kind=${pairing%%:*}
backup_kind=${pairing#*:}
backup_fixture=$backup_kind
[ "$backup_kind" = files ] && backup_fixture=dovecot
"$fixtures/$prod_kind" available >/dev/null 2>&1 ||
	{ echo "skipped: fixtures/$prod_kind is not available"; exit 77; }
if [ "$backup_kind" = files ]; then
	"$fixtures/dovecot" available --maildir >/dev/null 2>&1 ||
		{ echo "skipped: fixtures/dovecot --maildir is not available"; exit 77; }
else
	"$fixtures/$backup_fixture" available >/dev/null 2>&1 ||
		{ echo "skipped: fixtures/$backup_kind is not available"; exit 77; }
fi

tmp=$(mktemp -d /tmp/mmt-wbXXXXXX) || exit 99
# the fixtures' mail processes run as another user: they must reach it
chmod 0755 "$tmp"
status=99
web_pid=
cleanup()
{
	if [ -n "$web_pid" ]; then
		kill -TERM "$web_pid" 2>/dev/null
		wait "$web_pid" 2>/dev/null
	fi
	"$fixtures/$prod_kind" stop "$tmp/p" >/dev/null 2>&1
	"$fixtures/$backup_fixture" stop "$tmp/b" >/dev/null 2>&1
	if [ "$status" -eq 0 ]; then
		rm -rf "$tmp"
	else
		echo "test folder kept for inspection: $tmp"
	fi
}
trap cleanup EXIT
trap 'exit 99' INT TERM

fail()
{
	echo "FAIL: $*"
	status=1
	exit 1
}

# ---- the servers and the mirror ----
echo "web-browser: production $prod_kind, backup $backup_kind"
"$fixtures/$prod_kind" start "$tmp/p" --users "$users" \
	>"$tmp/fixtures.log" 2>&1 ||
	fail "fixtures/$prod_kind start: $(cat "$tmp/fixtures.log")"
if [ "$backup_kind" = files ]; then
	"$fixtures/dovecot" start "$tmp/b" --users "$users" \
		--maildir-root "$tmp/b/files" >>"$tmp/fixtures.log" 2>&1
else
	"$fixtures/$backup_kind" start "$tmp/b" --users "$users" \
		>>"$tmp/fixtures.log" 2>&1
fi || fail "fixtures/$backup_kind start: $(cat "$tmp/fixtures.log")"
"$fixtures/corpus.py" generate --env "$tmp/p/env" --seed 42 \
	--users "$users" >"$tmp/corpus.log" 2>&1 ||
	fail "corpus.py generate: $(cat "$tmp/corpus.log")"

envval()
{
	sed -n "s/^$2=//p" "$1"
}

mkdir -p "$tmp/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$tmp/tls/key.pem" -out "$tmp/tls/cert.pem" -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	>"$tmp/tls/openssl.log" 2>&1 ||
	fail "openssl req: $(cat "$tmp/tls/openssl.log")"
chmod 0600 "$tmp/tls/key.pem"
port=$("$python" -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
	fail "no free port"

config=$tmp/mmirror.conf
{
	cat <<EOF
# written by tests/web-browser.sh: the settings step finds this comment
# kept after its change
[state]
dir = $tmp/state

[production]
host = 127.0.0.1
port = $(envval "$tmp/p/env" IMAPS_PORT)
tls = implicit
ca_file = $(envval "$tmp/p/env" CA_FILE)
auth = plain
admin_user = $(envval "$tmp/p/env" MASTER_USER)
password_file = $(envval "$tmp/p/env" MASTER_PASSWORD_FILE)
timeout = 30

[backup]
host = 127.0.0.1
port = $(envval "$tmp/b/env" IMAPS_PORT)
tls = implicit
ca_file = $(envval "$tmp/b/env" CA_FILE)
auth = plain
admin_user = $(envval "$tmp/b/env" MASTER_USER)
password_file = $(envval "$tmp/b/env" MASTER_PASSWORD_FILE)
timeout = 30

[log]
level = warning

[web]
listen = 127.0.0.1
port = $port
tls_cert = $tmp/tls/cert.pem
tls_key = $tmp/tls/key.pem
session_timeout = 10m
EOF
	if [ "$backup_kind" = files ]; then
		printf '\n[mirror]\ntarget = files\nfiles_dir = %s\n' "$tmp/b/files"
	fi
} >"$config"
chmod 0600 "$config"

mm()
{
	"$mmirror" -c "$config" "$@"
}

mm -q init >"$tmp/init.log" 2>&1 || fail "mmirror init: $(cat "$tmp/init.log")"
for id in 2001 2002; do
	mm -q mailbox add "$id" >>"$tmp/init.log" 2>&1 ||
		fail "mmirror mailbox add $id: $(cat "$tmp/init.log")"
done
mm sync >"$tmp/sync.log" 2>&1 ||
	fail "the first sync exited $?: $(cat "$tmp/sync.log")"
admin_password="it's the admin"
printf '%s\n' "$admin_password" | mm web passwd admin --stdin \
	>"$tmp/passwd.log" 2>&1 ||
	fail "mmirror web passwd: $(cat "$tmp/passwd.log")"

# ---- the web server ----
"$web_bin" -c "$config" web >"$tmp/web.log" 2>&1 &
web_pid=$!
# Does the server answer GET /login over TLS with the test's certificate?
# (a bare TCP connection would do, but libmicrohttpd logs one closed
# before its TLS handshake)
answers()
{
	"$python" - "$port" "$tmp/tls/cert.pem" <<'PYEOF' 2>/dev/null
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), timeout=5,
                                context=ctx)
c.request("GET", "/login")
sys.exit(0 if c.getresponse().status == 200 else 1)
PYEOF
}
# up to 30 s: a sanitizer build starts slowly
for _ in $(seq 100); do
	answers && break
	kill -0 "$web_pid" 2>/dev/null ||
		fail "mmirror web ended: $(cat "$tmp/web.log")"
	sleep 0.3
done
answers ||
	fail "mmirror web does not answer on port $port: $(cat "$tmp/web.log")"

# ---- the browser ----
shots=${WEB_SCREENSHOTS:-$tmp/screenshots}
mkdir -p "$shots" "$tmp/browser" "$tmp/xdg/cache" "$tmp/xdg/config"
# nothing written beside the sources (make distcheck's are read-only),
# nothing of Chromium's left outside the test folder
PYTHONDONTWRITEBYTECODE=1 \
	XDG_CACHE_HOME=$tmp/xdg/cache XDG_CONFIG_HOME=$tmp/xdg/config \
	WEB_URL="https://127.0.0.1:$port" WEB_CERT="$tmp/tls/cert.pem" \
	WEB_ADMIN=admin WEB_ADMIN_PASSWORD="$admin_password" \
	WEB_SCREENSHOT_DIR="$shots" WEB_WORK_DIR="$tmp/browser" \
	WEB_CONFIG="$config" MMIRROR_BIN="$mmirror" \
	MMIRROR_FIXTURES="$fixtures" WEB_PROD_ENV="$tmp/p/env" \
	WEB_BACKUP_ENV="$tmp/b/env" CHROMIUM="$chromium" \
	CHROMEDRIVER="$chromedriver" \
	"$python" "$browser_dir/test_browser.py"
browser_status=$?

# ---- the server stops cleanly, and under a sanitizer reported nothing ----
kill -TERM "$web_pid" 2>/dev/null
wait "$web_pid"
web_status=$?
web_pid=
status=$browser_status
if [ "$web_status" -ne 0 ]; then
	echo "FAIL: mmirror web exited $web_status on SIGTERM"
	status=1
fi
if grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' \
	-e 'runtime error:' "$tmp/web.log"; then
	echo "FAIL: the sanitizers reported in mmirror web's log:"
	grep -A 30 -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' \
		-e 'runtime error:' "$tmp/web.log" | head -80
	status=1
fi
if [ "$status" -ne 0 ]; then
	echo "---- mmirror web's log ----"
	tail -n 40 "$tmp/web.log"
fi
[ -n "${WEB_SCREENSHOTS:-}" ] && echo "screenshots in $shots"
exit "$status"
