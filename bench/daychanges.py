#!/usr/bin/env python3
"""A day of changes on a production voice-mail store, for bench/vs-mbsync.

  daychanges.py --env DIR/env --users "U..." --seed N
                [--new PCT] [--flags PCT] [--expunge PCT]
                [--small | --recordings [LO-HI]]
  daychanges.py --count --env DIR/env --users "U..."
  daychanges.py --count --env PROD/env --backup-env B/env --users "U..."
                [--backup-user-format "c{user}"]

The first form changes production the way a day of voice mail does, in
proportion to the messages it holds (INBOX and Greetings of every user):
--new PCT (default 1) percent new messages, --flags PCT (default 1)
percent flag changes (\\Seen set on unread messages, cleared on read
ones), --expunge PCT (default 0.5) percent expunged; each at least one.
New messages are unread voice-mail shapes from fixtures/corpus.py (small
ones with --small, recordings with --recordings, as corpus.py generate
makes them with the same option) and arrive in
INBOX; flag changes and expunges pick INBOX messages that are neither
broadcasts (X-Broadcast: yes) nor \\Deleted, spread over all mailboxes.
Everything derives from --seed and the store's contents. Prints JSON:
messages_before, appended, flags_set_seen, flags_cleared_seen, expunged,
mailboxes_touched, messages_after.

--count prints per-folder totals (messages, \\Deleted, broadcasts) of the
store; with --backup-env it checks that every backup folder holds as many
messages as production's minus those marked \\Deleted (what mbsync copies:
it skips \\Deleted messages and copies broadcasts) and exits 1 listing the
folders that differ.

Exit 0 on success, 1 on a count mismatch, 2 on setup or IMAP errors.
"""

import argparse
import imaplib
import json
import os
import random
import sys

sys.dont_write_bytecode = True     # keep fixtures/ free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fixtures"))
import corpus  # noqa: E402
import imapdump  # noqa: E402
from imapdump import FixtureError, check, split_list  # noqa: E402

FOLDERS = ("INBOX", corpus.GREETINGS)


def logout(conn):
    try:
        conn.logout()
    except (imaplib.IMAP4.error, OSError):
        pass


def inbox_state(conn, user):
    """{uid: (flags without \\Recent, is_broadcast)} of the user's INBOX
    (selected read-only)."""
    count = imapdump.select_folder(conn, "INBOX", readonly=True)
    if count is None:
        raise FixtureError(f"{user}: no INBOX")
    if count == 0:
        return {}
    items = "(UID FLAGS BODY.PEEK[HEADER.FIELDS (X-Broadcast)])"
    data = check(conn.uid("FETCH", "1:*", items), f"{user}: UID FETCH")
    state = {}
    for msg in imapdump.parse_fetch(data):
        header = next((v for k, v in msg.items() if k.startswith("BODY[")),
                      None)
        if "UID" not in msg or not isinstance(header, bytes):
            continue    # an unsolicited FETCH
        flags = sorted(f for f in msg["FLAGS"] if f.lower() != "\\recent")
        state[int(msg["UID"])] = (
            flags, imapdump.has_header(header, ("X-Broadcast", "yes")))
    return state


def folder_messages(conn, folder):
    typ, data = conn.status(folder, "(MESSAGES)")
    if typ != "OK":
        return 0
    return int(data[0].split(b"MESSAGES ")[1].split(b")")[0])


def how_many(total, pct):
    return max(1, int(round(total * pct / 100.0)))


def new_message(rng_builder):
    b = rng_builder
    make = b.rng.choice([b.voice, b.voice, b.subscriber, b.urgent, b.fax,
                         b.asterisk])
    msg = make()
    msg.flags = [f for f in msg.flags if f != "\\Seen"]   # not heard yet
    return msg


def cmd_apply(args):
    env = imapdump.load_env(args.env)
    users = split_list(args.users)
    if not users:
        raise FixtureError("no users")
    if args.small:
        corpus.DATA_CAP = corpus.SMALL_DATA_BYTES
    if args.recordings:
        corpus.RECORDINGS = corpus.parse_range(args.recordings,
                                               "--recordings")

    # Pass 1: what production holds.
    states = {}
    total = 0
    for user in users:
        conn = imapdump.connect(env, user)
        try:
            states[user] = inbox_state(conn, user)
            total += len(states[user]) + folder_messages(conn,
                                                         corpus.GREETINGS)
        finally:
            logout(conn)

    rng = random.Random(f"{args.seed}:daychanges")
    candidates = [(u, uid) for u in users for uid in sorted(states[u])
                  if not states[u][uid][1] and
                  "\\Deleted" not in states[u][uid][0]]
    n_new = how_many(total, args.new)
    n_flags = min(how_many(total, args.flags), len(candidates))
    n_expunge = min(how_many(total, args.expunge), len(candidates) - n_flags)
    picked = rng.sample(candidates, n_flags + n_expunge)
    work = {u: {"flags": [], "expunge": [], "new": 0} for u in users}
    for user, uid in picked[:n_flags]:
        work[user]["flags"].append(uid)
    for user, uid in picked[n_flags:]:
        work[user]["expunge"].append(uid)
    for _ in range(n_new):
        work[rng.choice(users)]["new"] += 1

    # Pass 2: the changes, one connection per mailbox that has any.
    set_seen = cleared_seen = expunged = appended = touched = 0
    for user in users:
        w = work[user]
        if not (w["flags"] or w["expunge"] or w["new"]):
            continue
        touched += 1
        conn = imapdump.connect(env, user)
        try:
            if imapdump.select_folder(conn, "INBOX", readonly=False) is None:
                raise FixtureError(f"{user}: no INBOX")
            for uid in sorted(w["flags"]):
                seen = "\\Seen" in states[user][uid][0]
                op = "-FLAGS.SILENT" if seen else "+FLAGS.SILENT"
                check(conn.uid("STORE", str(uid), op, "(\\Seen)"),
                      f"{user}: UID STORE")
                if seen:
                    cleared_seen += 1
                else:
                    set_seen += 1
            if w["expunge"]:
                corpus.uid_expunge(conn, sorted(w["expunge"]), states[user])
                expunged += len(w["expunge"])
            b = corpus.Builder(random.Random(f"{args.seed}:{user}:day"),
                               user, f"d{args.seed}", month=9)
            for _ in range(w["new"]):
                corpus.append(conn, "INBOX", new_message(b))
                appended += 1
        finally:
            logout(conn)

    result = {"seed": args.seed, "mailboxes": len(users),
              "messages_before": total, "appended": appended,
              "flags_set_seen": set_seen,
              "flags_cleared_seen": cleared_seen,
              "flag_changes": set_seen + cleared_seen,
              "expunged": expunged, "mailboxes_touched": touched,
              "messages_after": total + appended - expunged}
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def folder_counts(conn, folder, broadcasts):
    """(messages, deleted, broadcasts) of FOLDER, or None if missing."""
    count = imapdump.select_folder(conn, folder, readonly=True)
    if count is None:
        return None
    deleted = bcast = 0
    if count:
        data = check(conn.uid("SEARCH", "DELETED"), "UID SEARCH DELETED")
        deleted = len(b" ".join(d for d in data if d).split())
        if broadcasts:
            data = check(conn.uid("SEARCH", "HEADER", "X-Broadcast", "yes"),
                         "UID SEARCH HEADER")
            bcast = len(b" ".join(d for d in data if d).split())
    return {"messages": count, "deleted": deleted, "broadcasts": bcast}


def store_counts(env, users, user_format="{user}", broadcasts=True):
    out = {}
    for user in users:
        conn = imapdump.connect(env, user_format.format(user=user))
        try:
            out[user] = {f: folder_counts(conn, f, broadcasts)
                         for f in FOLDERS}
        finally:
            logout(conn)
    return out


def totals(counts):
    t = {"messages": 0, "deleted": 0, "broadcasts": 0}
    for folders in counts.values():
        for c in folders.values():
            for k in t:
                t[k] += (c or {}).get(k, 0)
    return t


def cmd_count(args):
    env = imapdump.load_env(args.env)
    users = split_list(args.users)
    prod = store_counts(env, users)
    result = {"users": len(users), "production": totals(prod)}
    if not args.backup_env:
        json.dump(result, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    backup = store_counts(imapdump.load_env(args.backup_env), users,
                          args.backup_user_format, broadcasts=False)
    mismatches = []
    for user in users:
        for folder in FOLDERS:
            p, b = prod[user][folder], backup[user][folder]
            want = (p["messages"] - p["deleted"]) if p else 0
            have = b["messages"] if b else 0
            if want != have:
                mismatches.append(f"{user} {folder}: production "
                                  f"{p['messages'] if p else 'missing'} "
                                  f"(\\Deleted {p['deleted'] if p else 0})"
                                  f", backup "
                                  f"{b['messages'] if b else 'missing'}")
    result["backup"] = {"messages": totals(backup)["messages"]}
    result["mismatches"] = mismatches
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    for line in mismatches:
        print(line, file=sys.stderr)
    return 1 if mismatches else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--users", required=True)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--new", type=float, default=1.0, metavar="PCT")
    parser.add_argument("--flags", type=float, default=1.0, metavar="PCT")
    parser.add_argument("--expunge", type=float, default=0.5, metavar="PCT")
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--recordings", nargs="?", const="30-300",
                        metavar="LO-HI")
    parser.add_argument("--count", action="store_true")
    parser.add_argument("--backup-env")
    parser.add_argument("--backup-user-format", default="{user}")
    args = parser.parse_args(argv)
    if not args.count and args.seed is None:
        parser.error("--seed is required (or --count)")
    if args.backup_env and not args.count:
        parser.error("--backup-env goes with --count")
    try:
        return cmd_count(args) if args.count else cmd_apply(args)
    except FixtureError as e:
        print(f"daychanges: {e}", file=sys.stderr)
        return 2
    except (imaplib.IMAP4.error, OSError) as e:
        print(f"daychanges: IMAP error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
