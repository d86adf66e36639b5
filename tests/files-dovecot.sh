#!/bin/bash
# What "mmirror files dovecot-config" prints is a configuration a real
# Dovecot takes: doveconf -n accepts it, with and without --ldap, on a
# site of target files without [backup]; and a Dovecot started with it
# serves a tree laid out as maildir/maildir.h says (gzip messages,
# keywords, a folder): the super user logs in for a mailbox by LOGIN
# "MAILBOX*ADMIN" and by SASL PLAIN's authorization identity, reads the
# message back byte for byte, and a password login as the mailbox is
# refused.  Skipped (77) without doveconf; the live part is skipped
# without dovecot or python3.
#
# Run by make check (MMIRROR_BIN names the binary).
set -u

mmirror=${MMIRROR_BIN:-$(pwd)/mmirror}
DOVECOT=${DOVECOT:-/usr/sbin/dovecot}
command -v doveconf >/dev/null 2>&1 || { echo "doveconf is not installed"; exit 77; }
[ -x "$mmirror" ] || { echo "no mmirror binary at $mmirror"; exit 99; }

tmp=$(mktemp -d /tmp/mmirror-files-XXXXXX) || exit 99
status=0
cleanup()
{
	if [ -f "$tmp/dovecot.conf" ] && [ -s "$tmp/run/master.pid" ]; then
		"$DOVECOT" -c "$tmp/dovecot.conf" stop 2>/dev/null
		sleep 1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
# Dovecot's mail processes run as the owner of files_dir: they must
# reach it
chmod 0755 "$tmp"

fail()
{
	echo "FAIL: $*"
	status=1
}

# ---- the site: target files, no [backup] ----
mkdir -p "$tmp/etc/conf.d" "$tmp/run" "$tmp/state"
cat >"$tmp/mm.conf" <<EOF
[state]
dir = $tmp/mmstate
[production]
host = 127.0.0.1
admin_user = mmadmin
[mirror]
target = files
files_dir = $tmp/files
EOF
"$mmirror" -c "$tmp/mm.conf" -q init || { echo "FAIL: init"; exit 1; }
[ -d "$tmp/files" ] || fail "init did not make files_dir"
mode=$(stat -c %a "$tmp/files")
[ "$mode" = 700 ] || fail "files_dir has mode $mode, not 700"

# the serving user: root gives files_dir away, as the README says
if [ "$(id -u)" = 0 ]; then
	mail_user=nobody
	chown "$mail_user:$(id -gn "$mail_user")" "$tmp/files"
else
	mail_user=$(id -un)
fi
mail_uid=$(id -u "$mail_user")
mail_gid=$(id -g "$mail_user")

config_print()
{
	"$mmirror" -c "$tmp/mm.conf" files dovecot-config --dovecot-dir "$tmp/etc" "$@"
}
config_print >"$tmp/etc/conf.d/99-mmirror.conf" 2>"$tmp/err" ||
	fail "files dovecot-config exited $?"
[ -s "$tmp/err" ] && fail "files dovecot-config wrote to stderr: $(cat "$tmp/err")"
for line in "mail_location = maildir:$tmp/files/%u/Maildir" \
	'mail_plugins = $mail_plugins zlib' "mail_uid = $mail_uid" \
	"mail_gid = $mail_gid" "first_valid_uid = $mail_uid" \
	"last_valid_uid = $mail_uid" 'auth_master_user_separator = *' \
	"  args = scheme=SHA512-CRYPT $tmp/etc/mmirror-master.passwd" \
	'  master = yes' '  pass = yes' \
	"  args = uid=$mail_uid gid=$mail_gid home=$tmp/files/%u"; do
	grep -qxF -- "$line" "$tmp/etc/conf.d/99-mmirror.conf" ||
		fail "no line '$line'"
done
grep -qF 'doveadm pw -s SHA512-CRYPT' "$tmp/etc/conf.d/99-mmirror.conf" ||
	fail "no word of doveadm pw"

# the master user's password file, as the snippet says to make it
hash=$(doveadm pw -s SHA512-CRYPT -p secret 2>/dev/null) ||
	hash="{SHA512-CRYPT}$(printf 'secret\n' | openssl passwd -6 -stdin)"
printf 'mmadmin:%s\n' "$hash" >"$tmp/etc/mmirror-master.passwd"
if [ "$(id -u)" = 0 ]; then
	chgrp dovecot "$tmp/etc/mmirror-master.passwd"
	chmod 0640 "$tmp/etc/mmirror-master.passwd"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 14300)
{
	cat <<EOF
base_dir = $tmp/run
state_dir = $tmp/state
instance_name = mmirror-files-test-$$
log_path = $tmp/dovecot.log
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_verbose = yes
auth_failure_delay = 0
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
EOF
	[ "$(id -u)" = 0 ] || echo "  chroot ="
	echo "}"
	if [ "$(id -u)" != 0 ]; then
		# not root: no user switching, no chroot (as fixtures/dovecot)
		cat <<EOF
default_internal_user = $(id -un)
default_internal_group = $(id -gn)
default_login_user = $(id -un)
service auth-worker {
  user = \$default_internal_user
}
service anvil {
  chroot =
}
EOF
	fi
	echo "!include $tmp/etc/conf.d/99-mmirror.conf"
} >"$tmp/dovecot.conf"
doveconf -n -c "$tmp/dovecot.conf" >"$tmp/doveconf.out" 2>&1 ||
	fail "doveconf refused the configuration: $(cat "$tmp/doveconf.out")"

# ---- --ldap: the LDAP passdb and its file ----
printf '[ldap.backup]\nuri = ldaps://ldap-dr.example.net\nbind_dn = cn=mirror,dc=dr\nbase = ou=people,dc=dr\npassword_file = /etc/mmirror/ldap-dr.pass\n' \
	>>"$tmp/mm.conf"
config_print --ldap >"$tmp/ldap.conf" 2>"$tmp/err" || fail "--ldap exited $?"
sed -n 's/^#| //p' "$tmp/ldap.conf" >"$tmp/etc/mmirror-ldap.conf.ext"
for line in 'uris = ldaps://ldap-dr.example.net' 'dn = cn=mirror,dc=dr' \
	'base = ou=people,dc=dr' 'auth_bind = yes' \
	'pass_filter = (&(objectClass=inetOrgPerson)(uid=%u))'; do
	grep -qxF -- "$line" "$tmp/etc/mmirror-ldap.conf.ext" ||
		fail "--ldap: no line '$line' in the LDAP file"
done
grep -qxF "  args = $tmp/etc/mmirror-ldap.conf.ext" "$tmp/ldap.conf" ||
	fail "--ldap: no passdb args naming the LDAP file"
sed "s|$tmp/etc/conf.d/99-mmirror.conf|$tmp/ldap.conf|" "$tmp/dovecot.conf" \
	>"$tmp/dovecot-ldap.conf"
doveconf -n -c "$tmp/dovecot-ldap.conf" >"$tmp/doveconf.out" 2>&1 ||
	fail "doveconf refused the --ldap configuration: $(cat "$tmp/doveconf.out")"

# ---- a missing files_dir: said on stderr, printed all the same ----
sed "s|^files_dir = .*|files_dir = $tmp/nowhere|" "$tmp/mm.conf" >"$tmp/mm2.conf"
"$mmirror" -c "$tmp/mm2.conf" files dovecot-config >"$tmp/out2" 2>"$tmp/err" ||
	fail "a missing files_dir: exit $?"
grep -q "^mmirror: warning: files_dir $tmp/nowhere: " "$tmp/err" ||
	fail "a missing files_dir is not said: $(cat "$tmp/err")"
grep -q "^mail_uid = $(id -u)\$" "$tmp/out2" || fail "a missing files_dir: no mail_uid"
"$mmirror" -c "$tmp/none.conf" files dovecot-config >/dev/null 2>&1
[ $? = 78 ] || fail "an unreadable configuration does not exit 78"

if [ "$status" != 0 ] || [ ! -x "$DOVECOT" ] ||
	! command -v python3 >/dev/null 2>&1; then
	[ "$status" = 0 ] && echo "the live part skipped (no dovecot or python3)"
	exit $status
fi

# ---- live: a tree as maildir/maildir.h lays it out ----
python3 - "$tmp/files" "$mail_uid" "$mail_gid" <<'EOF' || fail "making the tree"
import gzip, os, sys
files, uid, gid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
msg = (b"From: 2001 <2001@example.net>\r\nTo: 5001@example.net\r\n"
       b"Subject: voice message\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
       b"Message-ID: <vm1@example.net>\r\n\r\n" + b"x" * 3000 + b"\r\n")
root = os.path.join(files, "5001", "Maildir")
def tree(d):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), mode=0o700, exist_ok=True)
def put(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
tree(root)
tree(os.path.join(root, ".Greetings"))
put(os.path.join(root, ".Greetings", "maildirfolder"), b"")
put(os.path.join(root, "mmirror-uidlist"), b"V1700000000 N2\n")
put(os.path.join(root, "dovecot-keywords"), b"0 $Forwarded\n")
name = "1.mmirror,S=%d:2,Sa" % len(msg)
path = os.path.join(root, "cur", name)
put(path, gzip.compress(msg))
os.utime(path, (1772445600, 1772445600))
open(os.path.join(files, "..", "msg"), "wb").write(msg)
for d, dirs, fs in os.walk(os.path.join(files, "5001")):
    for n in dirs + fs:
        os.lchown(os.path.join(d, n), uid, gid)
os.lchown(os.path.join(files, "5001"), uid, gid)
EOF
"$DOVECOT" -c "$tmp/dovecot.conf" || { fail "dovecot did not start"; exit 1; }
python3 - "$port" "$tmp/msg" <<'EOF' || fail "the live checks: $(tail -20 "$tmp/dovecot.log")"
import imaplib, sys, time
port, want = int(sys.argv[1]), open(sys.argv[2], "rb").read()
def connect():
    for _ in range(100):
        try:
            return imaplib.IMAP4("127.0.0.1", port)
        except OSError:
            time.sleep(0.1)
    raise SystemExit("no Dovecot on port %d" % port)
def check(c):
    typ, data = c.select("INBOX", readonly=True)
    assert typ == "OK" and data[0] == b"1", data
    typ, data = c.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])")
    assert typ == "OK", data
    meta, body = data[0]
    assert body == want, "the message differs"
    assert b"\\Seen" in meta and b"$Forwarded" in meta, meta
    # INTERNALDATE is the file's modification time
    assert time.mktime(imaplib.Internaldate2tuple(meta)) == 1772445600, meta
    typ, data = c.list()
    assert any(b"Greetings" in d for d in data), data
    c.logout()
c = connect()
c.login("5001*mmadmin", "secret")
check(c)
c = connect()
c.authenticate("PLAIN", lambda _: b"5001\0mmadmin\0secret")
check(c)
for user, password in (("5001", "secret"), ("5001*mmadmin", "wrong"),
                       ("mmadmin", "secret")):
    c = connect()
    try:
        c.login(user, password)
    except imaplib.IMAP4.error:
        c.logout()
        continue
    raise SystemExit("%s logged in with %s" % (user, password))
print("a live Dovecot served the tree")
EOF
exit $status
