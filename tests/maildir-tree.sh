#!/bin/sh
# The files target's tree, as the contract in maildir/maildir.h lays it
# out, is what a stock Dovecot with the zlib plugin serves: a tree built
# here by hand (gzip files "<uid>.mmirror,S=<size>:2,<letters>" in cur/,
# keywords in dovecot-keywords, INTERNALDATE as mtime, owned by the owner
# of the tree's root) reads back through fixtures/dovecot --maildir-root
# with fixtures/imapdump.py: the original bytes, flags, keywords and
# INTERNALDATE, whether the tree was written before Dovecot first saw the
# user or after.  imapdump.py compare finds it equal to an ordinary
# Dovecot holding the same messages.  A flag change through IMAP renames
# the file keeping "<uid>.mmirror,S=<size>" and changing what follows;
# what Dovecot itself saves into the tree is gzip.  A restart without
# --maildir-root serves the same tree; reading renames none of the files.
#
# Skipped (77) where Dovecot or its zlib plugin is not installed.
set -u

fixtures=${MMIRROR_FIXTURES:-${srcdir:-.}/fixtures}
"$fixtures/dovecot" available --maildir || exit 77
command -v python3 >/dev/null 2>&1 || { echo "python3 is not installed"; exit 77; }

tmp=$(mktemp -d /tmp/mmt-mdXXXXXX) || exit 99
chmod 0755 "$tmp"
cleanup()
{
	"$fixtures/dovecot" stop "$tmp/t" >/dev/null 2>&1
	"$fixtures/dovecot" stop "$tmp/p" >/dev/null 2>&1
	if [ "$status" -eq 0 ]; then
		rm -rf "$tmp"
	else
		echo "test folder kept for inspection: $tmp"
	fi
}
status=99
trap cleanup EXIT
trap 'exit 99' INT TERM

fail()
{
	echo "FAIL: $*"
	status=1
	exit 1
}

root=$tmp/files
py=$tmp/tree.py

# The tree builder and the checks (python3, standard library only).
cat >"$py" <<'PYEOF'
import gzip, hashlib, imaplib, json, os, re, ssl, subprocess, sys, time

FLAG_LETTERS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R",
                "\\Seen": "S", "\\Deleted": "T"}
NAME_RE = re.compile(r"^(\d+)\.mmirror,S=(\d+)(,[^:]*)?:2,(.*)$")


def message(user, folder, n, extra=b"", body=None):
    """One voice-mail-like message with CRLF line ends, as IMAP gives it."""
    if body is None:
        body = b"Voice message %d for %s.\r\n" % (n, user.encode())
    return (b"From: Voice Mail <vm@example.net>\r\n"
            b"To: <" + user.encode() + b"@example.net>\r\n"
            b"Subject: " + folder.encode() + b" message %d\r\n" % n +
            b"Message-ID: <" + f"{user}.{folder}.{n}@mmt".encode() + b">\r\n"
            b"Date: Mon, 05 Jan 2026 04:45:00 +0200\r\n" + extra +
            b"MIME-Version: 1.0\r\n\r\n" + body)


def big_body(n):
    line = b"".join(b"%c" % (65 + (i * 7 + n) % 26) for i in range(76))
    return b"\r\n".join(line for _ in range(n)) + b"\r\n"


# user -> folder -> [(uid, flags, mtime, bytes)]; folder "INBOX" or a name
SETS = {
    "2001": {
        "INBOX": [
            (1, ["\\Seen"], 1767584700, message("2001", "INBOX", 1)),
            (2, ["\\Seen", "$Forwarded"], 1767671111,
             message("2001", "INBOX", 2)),
            (3, [], 1767757522, message(
                "2001", "INBOX", 3,
                extra=b"X-Caller-Name: J\xc3\xbcrgen M\xfcller\r\n")),
            # uid 4 expunged: identities have gaps
            (5, ["\\Answered", "\\Flagged", "$Forwarded"], 1767843933,
             message("2001", "INBOX", 5, body=big_body(2600))),
        ],
        "Greetings": [
            (1, ["\\Seen", "$CNS-Greeting-On"], 1767000000,
             message("2001", "Greetings", 1)),
            (2, ["\\Seen"], 1767000100, message("2001", "Greetings", 2)),
        ],
    },
    "2002": {
        "INBOX": [(1, ["\\Seen"], 1767930344, message("2002", "INBOX", 1))],
    },
    "2003": {
        "INBOX": [(7, ["\\Seen", "$Forwarded"], 1768016755,
                   message("2003", "INBOX", 7))],
        "Greetings": [(1, ["$CNS-Greeting-On"], 1767000200,
                       message("2003", "Greetings", 1))],
    },
}


def folder_dir(root, user, folder):
    base = os.path.join(root, user, "Maildir")
    return base if folder == "INBOX" else os.path.join(base, "." + folder)


class Owner:
    """New files and directories take the owner of the tree's root (as
    mmirror gives them when it runs as root)."""

    def __init__(self, root):
        st = os.stat(root)
        self.ids = (st.st_uid, st.st_gid) if os.geteuid() == 0 else None

    def mkdir(self, path):
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
            if self.ids:
                os.chown(path, *self.ids)

    def file(self, path, data, mode="wb"):
        with open(path, mode) as f:
            f.write(data)
        os.chmod(path, 0o600)
        if self.ids:
            os.chown(path, *self.ids)


def keyword_letters(fdir, owner, keywords):
    """Letters for keywords, appending new names to dovecot-keywords."""
    path = os.path.join(fdir, "dovecot-keywords")
    names = {}
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            idx, _, name = line.strip().partition(" ")
            if idx.isdigit() and name:
                names[name] = int(idx)
    add = ""
    letters = ""
    for kw in keywords:
        if kw not in names:
            names[kw] = max(names.values(), default=-1) + 1
            add += f"{names[kw]} {kw}\n"
        letters += chr(ord("a") + names[kw])
    if add:
        owner.file(path, add.encode(), "ab")
    return "".join(sorted(letters))


def cmd_build(root, manifest, users):
    owner = Owner(root)
    out = json.load(open(manifest)) if os.path.exists(manifest) else {}
    for user in users:
        owner.mkdir(os.path.join(root, user))
        out[user] = {}
        for folder, msgs in SETS[user].items():
            fdir = folder_dir(root, user, folder)
            owner.mkdir(os.path.join(root, user, "Maildir"))
            for sub in ("", "cur", "new", "tmp"):
                owner.mkdir(os.path.join(fdir, sub))
            if folder != "INBOX":
                owner.file(os.path.join(fdir, "maildirfolder"), b"")
            top = max(m[0] for m in msgs)
            owner.file(os.path.join(fdir, "mmirror-uidlist"),
                       b"V1767000000 N%d\n" % (top + 1))
            listed = []
            for uid, flags, mtime, data in msgs:
                system = "".join(sorted(FLAG_LETTERS[f] for f in flags
                                        if f in FLAG_LETTERS))
                kws = [f for f in flags if not f.startswith("\\")]
                letters = system + keyword_letters(fdir, owner, kws)
                name = f"{uid}.mmirror,S={len(data)}:2,{letters}"
                tmp_path = os.path.join(fdir, "tmp", name)
                owner.file(tmp_path, gzip.compress(data, 6))
                os.utime(tmp_path, (mtime, mtime))
                os.rename(tmp_path, os.path.join(fdir, "cur", name))
                listed.append({"uid": uid, "name": name, "flags": sorted(flags),
                               "internaldate": mtime, "size": len(data),
                               "sha256": hashlib.sha256(data).hexdigest(),
                               "message_id": f"<{user}.{folder}.{uid}@mmt>"})
            out[user][folder] = listed
    with open(manifest, "w") as f:
        json.dump(out, f, indent=1)
    return 0


def dump(fixtures, env, user):
    res = subprocess.run([os.path.join(fixtures, "imapdump.py"), "dump",
                          "--env", env, "--user", user],
                         capture_output=True, check=False)
    if res.returncode != 0:
        sys.exit(f"imapdump.py dump {user}: {res.returncode} "
                 f"{res.stderr.decode(errors='replace')}")
    return json.loads(res.stdout)


def cmd_check(fixtures, env, root, manifest, users):
    """The users' messages read back as written, and reading renamed
    none of mmirror's files."""
    want = json.load(open(manifest))
    bad = 0
    for user in users:
        got = dump(fixtures, env, user)
        for folder in ("INBOX", "Greetings"):
            exp = want[user].get(folder)
            have = got.get(folder)
            if exp is not None:
                fdir = folder_dir(root, user, folder)
                names = sorted(n for sub in ("cur", "new")
                               for n in os.listdir(os.path.join(fdir, sub))
                               if NAME_RE.match(n))
                if names != sorted(m["name"] for m in exp):
                    print(f"FAIL: {user} {folder}: files {names}")
                    bad += 1
            if exp is None:
                if have:
                    print(f"FAIL: {user} {folder}: unexpected {have}")
                    bad += 1
                continue
            if have is None:
                print(f"FAIL: {user} {folder}: folder not served")
                bad += 1
                continue
            by_sha = {m["sha256"]: m for m in have}
            if len(have) != len(exp):
                print(f"FAIL: {user} {folder}: {len(have)} messages, "
                      f"want {len(exp)}")
                bad += 1
            for m in exp:
                h = by_sha.get(m["sha256"])
                if h is None:
                    print(f"FAIL: {user} {folder} {m['name']}: bytes not "
                          f"served as written")
                    bad += 1
                    continue
                for key in ("flags", "internaldate", "size", "message_id"):
                    if h[key] != m[key]:
                        print(f"FAIL: {user} {folder} {m['name']}: {key} "
                              f"{h[key]!r}, want {m[key]!r}")
                        bad += 1
    print(f"checked {', '.join(users)}: {'ok' if not bad else 'FAILED'}")
    return 1 if bad else 0


def connect(env_path, user):
    env = dict(line.rstrip("\n").split("=", 1) for line in open(env_path)
               if "=" in line)
    password = open(env["MASTER_PASSWORD_FILE"]).readline().strip()
    ctx = ssl.create_default_context(cafile=env["CA_FILE"])
    conn = imaplib.IMAP4_SSL(env["HOST"], int(env["IMAPS_PORT"]),
                             ssl_context=ctx, timeout=60)
    # the master-user login template, as mmirror's login_template %u*%a
    conn.login(f"{user}*{env['MASTER_USER']}", password)
    return conn


def cmd_append(env, manifest):
    """Fills an ordinary Dovecot (production) with the manifest's
    messages: same bytes, flags and INTERNALDATE."""
    want = json.load(open(manifest))
    for user, folders in want.items():
        conn = connect(env, user)
        for folder, msgs in folders.items():
            if folder != "INBOX":
                conn.create(folder)
            for m in msgs:
                data = next(d for u, _, _, d in SETS[user][folder]
                            if u == m["uid"])
                typ, res = conn.append(folder, "(" + " ".join(m["flags"]) + ")",
                                       imaplib.Time2Internaldate(
                                           m["internaldate"]), data)
                if typ != "OK":
                    sys.exit(f"APPEND {user} {folder}: {typ} {res}")
        conn.logout()
    return 0


def cur_names(root, user, folder):
    return sorted(os.listdir(os.path.join(folder_dir(root, user, folder),
                                          "cur")))


def cmd_flags(env, root, manifest):
    """Changes flags through IMAP and checks how Dovecot renamed the
    files: the "<uid>.mmirror,S=<size>" base stays, what follows ":2,"
    changes (a ",W=<n>" may come before it)."""
    want = json.load(open(manifest))
    changes = [  # (uid in the tree, STORE, letters after)
        (1, ("+FLAGS", "(\\Flagged)"), "FS"),
        (2, ("-FLAGS", "(\\Seen)"), "a"),
        (3, ("+FLAGS", "($Urgent)"), "b"),
    ]
    conn = connect(env, "2001")
    conn.select("INBOX")
    for uid, (op, flags), _ in changes:
        mid = f"<2001.INBOX.{uid}@mmt>"
        typ, data = conn.uid("SEARCH", "HEADER", "Message-ID", f'"{mid}"')
        found = data[0].split() if typ == "OK" and data[0] else []
        if len(found) != 1:
            print(f"FAIL: SEARCH {mid}: {typ} {data}")
            return 1
        typ, data = conn.uid("STORE", found[0].decode(), op, flags)
        if typ != "OK":
            print(f"FAIL: STORE {op} {flags}: {typ} {data}")
            return 1
    conn.logout()
    bad = 0
    names = cur_names(root, "2001", "INBOX")
    for uid, (op, flags), letters in changes:
        old = next(m["name"] for m in want["2001"]["INBOX"] if m["uid"] == uid)
        base = old.split(":2,")[0]
        now = [n for n in names if n.startswith(base + ":") or
               n.startswith(base + ",")]
        if len(now) != 1:
            print(f"FAIL: {old} after {op} {flags}: cur/ holds {names}")
            bad += 1
            continue
        m = NAME_RE.match(now[0])
        ok = (m is not None and m.group(1) == str(uid) and
              (m.group(3) is None or re.fullmatch(r",W=\d+", m.group(3))) and
              m.group(4) == letters)
        print(f"UID STORE {op} {flags}: {old} -> {now[0]}"
              f"{'' if ok else ' (FAIL: want letters ' + letters + ')'}")
        bad += not ok
        for entry in want["2001"]["INBOX"]:
            if entry["uid"] == uid:
                entry["name"] = now[0]
                if op == "+FLAGS":
                    entry["flags"] = sorted(entry["flags"] + [flags[1:-1]])
                else:
                    entry["flags"].remove(flags[1:-1])
    kw = open(os.path.join(folder_dir(root, "2001", "INBOX"),
                           "dovecot-keywords")).read()
    print("dovecot-keywords after the new keyword: " + repr(kw))
    if not re.search(r"^0 \$Forwarded$", kw, re.M) or \
            not re.search(r"^1 \$Urgent$", kw, re.M):
        print("FAIL: dovecot-keywords does not keep 0 and add 1")
        bad += 1
    with open(manifest, "w") as f:
        json.dump(want, f, indent=1)
    return 1 if bad else 0


def cmd_save(env, root):
    """What Dovecot itself saves into the tree (APPEND) is gzip."""
    before = set(cur_names(root, "2002", "INBOX"))
    before_new = set(os.listdir(os.path.join(root, "2002", "Maildir", "new")))
    conn = connect(env, "2002")
    data = message("2002", "INBOX", 99)
    typ, res = conn.append("INBOX", "(\\Seen $Forwarded)",
                           imaplib.Time2Internaldate(1768100000), data)
    conn.logout()
    if typ != "OK":
        print(f"FAIL: APPEND: {typ} {res}")
        return 1
    added = ([("cur", n) for n in set(cur_names(root, "2002", "INBOX")) - before] +
             [("new", n) for n in set(os.listdir(os.path.join(
                 root, "2002", "Maildir", "new"))) - before_new])
    if len(added) != 1:
        print(f"FAIL: APPEND left {added}")
        return 1
    sub, name = added[0]
    path = os.path.join(root, "2002", "Maildir", sub, name)
    is_gzip = open(path, "rb").read(2) == b"\x1f\x8b"
    st = os.stat(path)
    print(f"Dovecot's APPEND of {len(data)} bytes (CRLF): {sub}/{name}, "
          f"{st.st_size} bytes on disk, mtime {int(st.st_mtime)}, "
          f"{'gzip' if is_gzip else 'not gzip'}")
    plain = gzip.open(path).read() if is_gzip else b""
    if plain.replace(b"\n", b"\r\n") != data:
        print("FAIL: the saved file does not hold the message (LF line ends)")
        return 1
    return 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "build":
        return cmd_build(args[0], args[1], args[2:])
    if cmd == "check":
        return cmd_check(args[0], args[1], args[2], args[3], args[4:])
    if cmd == "append":
        return cmd_append(args[0], args[1])
    if cmd == "flags":
        return cmd_flags(args[0], args[1], args[2])
    if cmd == "save":
        return cmd_save(args[0], args[1])
    sys.exit(f"unknown step {cmd}")


sys.exit(main())
PYEOF

out=$("$fixtures/dovecot" start "$tmp/t" --users "2001 2002" \
	--maildir-root "$root" 2>&1) || fail "start --maildir-root: $out"
echo "$out"
env=$tmp/t/env
grep -qx "MAILDIR_ROOT=$root" "$env" || fail "env has no MAILDIR_ROOT=$root"
if [ "$(id -u)" -eq 0 ]; then
	[ "$(stat -c %U "$root")" = mmfixture ] ||
		fail "$root belongs to $(stat -c %U "$root"), not mmfixture"
fi

# 1. written before Dovecot first sees the users (as root, each file given
# to the root's owner)
python3 "$py" build "$root" "$tmp/manifest.json" 2001 2002 ||
	fail "building the tree"
python3 "$py" check "$fixtures" "$env" "$root" "$tmp/manifest.json" 2001 2002 ||
	fail "the tree written first is not served as written"

# 2. a user added later, whose Maildir Dovecot makes on first access, and
# the tree written into it afterwards
"$fixtures/dovecot" adduser "$tmp/t" 2003 || fail "adduser 2003"
"$fixtures/imapdump.py" dump --env "$env" --user 2003 >/dev/null ||
	fail "first access of 2003"
[ -d "$root/2003/Maildir/cur" ] || fail "Dovecot made no $root/2003/Maildir"
python3 "$py" build "$root" "$tmp/manifest.json" 2003 ||
	fail "building 2003's tree"
python3 "$py" check "$fixtures" "$env" "$root" "$tmp/manifest.json" 2003 ||
	fail "the tree written after Dovecot's first access is not served"

# 3. imapdump.py compare: an ordinary Dovecot with the same messages
out=$("$fixtures/dovecot" start "$tmp/p" --users "2001 2002 2003" 2>&1) ||
	fail "start production: $out"
python3 "$py" append "$tmp/p/env" "$tmp/manifest.json" ||
	fail "filling production"
"$fixtures/imapdump.py" compare --prod-env "$tmp/p/env" --backup-env "$env" \
	--users "2001 2002 2003" || fail "compare with production"

# 4. flag changes through IMAP rename the files
python3 "$py" flags "$env" "$root" "$tmp/manifest.json" ||
	fail "flag changes"
python3 "$py" check "$fixtures" "$env" "$root" "$tmp/manifest.json" 2001 ||
	fail "flags or INTERNALDATE after the renames"
out=$("$fixtures/imapdump.py" compare --prod-env "$tmp/p/env" \
	--backup-env "$env" --users "2001 2002 2003" 2>&1)
ret=$?
if [ "$ret" -ne 1 ] ||
	[ "$(printf '%s\n' "$out" | grep -c ' different ')" -ne 3 ]; then
	fail "compare after three flag changes (exit $ret): $out"
fi

# 5. Dovecot's own saves are gzip
python3 "$py" save "$env" "$root" || fail "APPEND into the tree"

# 6. a restart without --maildir-root serves the same tree
"$fixtures/dovecot" stop "$tmp/t" >/dev/null || fail "stop"
out=$("$fixtures/dovecot" start "$tmp/t" 2>&1) || fail "restart: $out"
grep -qx "MAILDIR_ROOT=$root" "$env" || fail "restart forgot the tree"
python3 "$py" check "$fixtures" "$env" "$root" "$tmp/manifest.json" 2001 2003 ||
	fail "the tree after a restart"

if [ "$(id -u)" -eq 0 ]; then
	stray=$(find "$root" ! -user mmfixture -o ! -group mmfixture)
	[ -z "$stray" ] || fail "not the mail user's: $stray"
fi
# (stop's SIGTERM is the one warning expected)
if grep -E ' (Fatal|Panic|Error|Warning): ' "$tmp/t/dovecot.log" |
	grep -v ' master: Warning: Killed with signal 15 '; then
	fail "Dovecot complained about the tree (above)"
fi
status=0
echo "PASS"
