#!/usr/bin/env python3
"""bench/vs-mbsync's helper: configs, parsing and the report tables.

  vs-mbsync-helper.py mbsyncrc OUT STATE PROD_ENV BACKUP_ENV FORMAT USERS MAX_SIZE
  vs-mbsync-helper.py mmjson FILE
  vs-mbsync-helper.py mbcount LOG PROD_PORT BACKUP_PORT
  vs-mbsync-helper.py turnslice TURNS_LOG FROM_LINE
  vs-mbsync-helper.py report RUNS COUNTS MAILBOXES
  vs-mbsync-helper.py turns TURNS DAYS MAILBOXES
  vs-mbsync-helper.py scale RUNS MAILBOXES ESTIMATE_FOR
  vs-mbsync-helper.py perf DSO_REPORT SYMBOL_REPORT
  vs-mbsync-helper.py field JSON_FILE KEY.KEY...
  vs-mbsync-helper.py days DAYS

Only bench/vs-mbsync calls it; the formats of its files are described there.
"""

import json
import re
import statistics
import sys

sys.dont_write_bytecode = True


def env(path):
    d = {}
    for line in open(path):
        k, _, v = line.strip().partition("=")
        if k:
            d[k] = v
    return d


def mbsyncrc(out, state, prod_env, backup_env, fmt, users, max_size):
    """One IMAPAccount+IMAPStore per mailbox per side, one Channel per
    mailbox. isync 1.4 matches the certificate against DNS names only,
    not IP SANs, so the host is "localhost" (127.0.0.1 in /etc/hosts).
    MAX_SIZE > 0: MaxSize on the backup (near) store."""
    p, b = env(prod_env), env(backup_env)
    ppw = open(p["MASTER_PASSWORD_FILE"]).readline().strip()
    bpw = open(b["MASTER_PASSWORD_FILE"]).readline().strip()
    lines = [f"SyncState {state}/", ""]
    for u in users.split():
        bu = fmt.format(user=u)
        for name, e, pw, user in (("p", p, ppw, u), ("b", b, bpw, bu)):
            lines += [f"IMAPAccount {name}-{bu}", "Host localhost",
                      f"Port {e['IMAPS_PORT']}",
                      f"User {user}*{e['MASTER_USER']}", f"Pass {pw}",
                      "SSLType IMAPS", "SystemCertificates no",
                      f"CertificateFile {e['CA_FILE']}", "AuthMechs LOGIN",
                      "Timeout 30", "",
                      f"IMAPStore {name}-{bu}", f"Account {name}-{bu}"]
            if name == "b" and int(max_size) > 0:
                lines.append(f"MaxSize {int(max_size)}")
            lines.append("")
        lines += [f"Channel c-{bu}", f"Far :p-{bu}:", f"Near :b-{bu}:",
                  "Patterns INBOX Greetings", "Create Near", "Expunge Near",
                  "Sync Pull", "CopyArrivalDate yes", ""]
    with open(out, "w") as f:
        f.write("\n".join(lines))


def mmjson(path):
    """status append store expunge create prod_cmds backup_cmds prod_conns
    backup_conns placeholders of an mmirror --json summary."""
    try:
        j = json.load(open(path))
    except (OSError, ValueError):
        print("invalid-json - - - - - - - - -")
        return
    o, c, n = j.get("operations", {}), j.get("commands", {}), j.get("connections", {})
    print(j.get("status", "?"), o.get("append", "-"), o.get("store", "-"),
          o.get("expunge", "-"), o.get("create", "-"), c.get("production", "-"),
          c.get("backup", "-"), n.get("production", "-"), n.get("backup", "-"),
          j.get("messages", {}).get("placeholders", "-"))


def mbcount(path, prod_port, backup_port):
    """From an `mbsync -Dn` log: commands sent to the far (production) and
    near (backup) side, the near side's APPEND, STORE, EXPUNGE and CLOSE,
    and the connections made to each side."""
    far = near = app = sto = exp = clo = pconn = bconn = sent = 0
    # a progress note "(N in progress) " may precede a line
    cmd = re.compile(r"^(?:\(\d+ in progress\) )?([FN]): >>> \d+ (UID )?([A-Z]+)")
    for line in open(path, errors="replace"):
        sent += ": >>> " in line
        m = cmd.match(line)
        if m:
            if m.group(1) == "F":
                far += 1
            else:
                near += 1
                verb = m.group(3)
                app += verb == "APPEND"
                sto += verb == "STORE"
                exp += verb == "EXPUNGE"
                clo += verb == "CLOSE"
            continue
        m = re.search(r"Connecting to .*:(\d+)\)", line)
        if m:
            pconn += m.group(1) == prod_port
            bconn += m.group(1) == backup_port
    if sent != far + near:
        sys.exit(f"{path}: {sent} client lines, {far + near} understood")
    print(far, near, app, sto, exp, clo, pconn, bconn)


def turnslice(path, from_line):
    """connections, turns summed, turns max, bytes up, bytes down of the
    lines of a --turns-log after line FROM_LINE."""
    rows = []
    try:
        with open(path) as f:
            rows = [json.loads(x) for x in f.readlines()[int(from_line):]
                    if x.strip()]
    except OSError:
        pass
    t = [r["turns"] for r in rows]
    print(len(rows), sum(t), max(t) if t else 0,
          sum(r["bytes_up"] for r in rows),
          sum(r["bytes_down"] for r in rows))


PHASES = [("a", "a. first full mirror into an empty backup"),
          ("b", "b. no-change pass"),
          ("c", "c. pass after a day of changes"),
          ("sa", "scale: first full mirror into an empty backup"),
          ("sb", "scale: no-change incremental pass"),
          ("sf", "scale: no-change full pass (sync --full, the nightly pass)")]


def fmt_ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"


def phase_table(phase, title, rows, counts, out, summary):
    prs = [r for r in rows if r[0] == phase]
    if not prs:
        return
    out.append(f"#### {title}")
    out.append("")
    out.append("| round | order | tool | wall s | user s | sys s | CPU s | peak RSS KiB "
               "| commands prod | commands backup | commands | backup APPEND/STORE/EXPUNGE "
               "| conns prod/backup |")
    out.append("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    stats = {"mmirror": [], "mbsync": []}
    for r in prs:
        (ph, rnd, slot, tool, wall, us, sy, kib, pc, bc, ap, st, ex,
         pconn, bconn) = r[:15]
        writes = f"{ap}/{st}/{ex}"
        if tool == "mbsync":
            c = counts.get((ph, rnd)) or counts.get((ph, "*"))
            if c:
                pc, bc, ap, st, ex, clo, pconn, bconn = c
                writes = f"{ap}/{st}/{ex} (+{clo} CLOSE)"
            else:
                pc = bc = pconn = bconn = "-"
                writes = "-"
        cpu = float(us) + float(sy)
        total = (int(pc) + int(bc)) if pc not in ("-", "") and bc not in ("-", "") else "-"
        out.append(f"| {rnd} | {slot} | {tool} | {float(wall):.3f} | {us} | {sy} | "
                   f"{cpu:.2f} | {kib} | {pc} | {bc} | {total} | {writes} | "
                   f"{pconn}/{bconn} |")
        stats[tool].append((float(wall), cpu, int(kib),
                            total if total != "-" else None))
    out.append("")
    med = {}
    for tool, s in stats.items():
        if not s:
            continue
        cmds = [x[3] for x in s if x[3] is not None]
        med[tool] = (statistics.median(x[0] for x in s),
                     statistics.median(x[1] for x in s),
                     max(x[2] for x in s),
                     statistics.median(cmds) if cmds else None)
        w, c, k, n = med[tool]
        out.append(f"- {tool}: median wall {w:.3f} s, median CPU {c:.2f} s, "
                   f"peak RSS {k} KiB, median commands "
                   f"{n if n is not None else '-'} ({len(s)} run{'s' if len(s) > 1 else ''})")
    if "mmirror" in med and "mbsync" in med:
        a, b = med["mmirror"], med["mbsync"]
        ratios = (fmt_ratio(a[0], b[0]), fmt_ratio(a[1], b[1]),
                  fmt_ratio(a[2], b[2]),
                  fmt_ratio(a[3], b[3]) if a[3] is not None and b[3] is not None else "-")
        out.append(f"- ratio mmirror/mbsync: median wall {ratios[0]}, median CPU "
                   f"{ratios[1]}, peak RSS {ratios[2]}, commands {ratios[3]}")
        summary.append(f"| {title} | {a[0]:.3f} | {b[0]:.3f} | {ratios[0]} | "
                       f"{a[1]:.2f} | {b[1]:.2f} | {ratios[1]} | {ratios[2]} | {ratios[3]} |")
    out.append("")


def read_rows(runs_path, counts_path):
    rows = [l.rstrip("\n").split("\t") for l in open(runs_path) if l.strip()]
    counts = {}
    try:
        for l in open(counts_path):
            if l.strip():
                f = l.rstrip("\n").split("\t")
                counts[(f[0], f[1])] = f[2:]
    except OSError:
        pass
    return rows, counts


def report(runs_path, counts_path, label):
    rows, counts = read_rows(runs_path, counts_path)
    out, summary = [], []
    for phase, title in PHASES:
        phase_table(phase, title, rows, counts, out, summary)
    if summary:
        out.append(f"#### summary ({label}): mmirror / mbsync")
        out.append("")
        out.append("| phase | mmirror median wall s | mbsync median wall s | wall "
                   "| mmirror median CPU s | mbsync median CPU s | CPU | peak RSS | commands |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        out.extend(summary)
        out.append("")
    print("\n".join(out).rstrip("\n"))


def days_line(days_path):
    parts = []
    for line in open(days_path):
        rnd, _, j = line.rstrip("\n").partition("\t")
        d = json.loads(j)
        parts.append(f"round {rnd}: {d['messages_before']} messages, +{d['appended']} new, "
                     f"{d['flags_set_seen']} \\Seen set and {d['flags_cleared_seen']} cleared, "
                     f"{d['expunged']} expunged, in {d['mailboxes_touched']} mailboxes")
    print("; ".join(parts))


def turns(turns_path, days_path, mailboxes):
    """turns.tsv: phase round tool side conns turns_sum turns_max up down.
    Per phase, tool and side: connections, turns per connection (mean,
    max), per mailbox; in phase c also per changed mailbox, estimated as
    (turns in c - unchanged mailboxes x turns per mailbox in b) / changed."""
    mailboxes = int(mailboxes)
    rows = [l.rstrip("\n").split("\t") for l in open(turns_path) if l.strip()]
    touched = {}
    try:
        for line in open(days_path):
            rnd, _, j = line.rstrip("\n").partition("\t")
            touched[rnd] = json.loads(j)["mailboxes_touched"]
    except OSError:
        pass
    agg = {}
    for ph, rnd, tool, side, conns, tsum, tmax, up, down in rows:
        agg.setdefault((ph, tool, side), []).append(
            (rnd, int(conns), int(tsum), int(tmax), int(up), int(down)))
    per_b = {}
    for (ph, tool, side), v in agg.items():
        if ph == "b":
            per_b[(tool, side)] = statistics.median(x[2] for x in v) / mailboxes
    out = ["| phase | tool | side | runs | connections | turns | turns/connection mean | "
           "turns/connection max | turns/mailbox | turns/changed mailbox (est.) | "
           "MB up | MB down |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    names = {"a": "a. first mirror", "b": "b. no change", "c": "c. day of changes"}
    for (ph, tool, side) in sorted(agg):
        v = agg[(ph, tool, side)]
        conns = statistics.median(x[1] for x in v)
        tsum = statistics.median(x[2] for x in v)
        tmax = max(x[3] for x in v)
        mean = tsum / conns if conns else 0
        changed = "-"
        if ph == "c" and (tool, side) in per_b:
            ests = []
            for rnd, _, ts, _, _, _ in v:
                n = touched.get(rnd)
                if n:
                    ests.append((ts - (mailboxes - n) * per_b[(tool, side)]) / n)
            if ests:
                changed = f"{statistics.median(ests):.1f}"
        out.append(f"| {names.get(ph, ph)} | {tool} | {side} | {len(v)} | {conns:g} | {tsum:g} | "
                   f"{mean:.1f} | {tmax} | {tsum / mailboxes:.1f} | {changed} | "
                   f"{statistics.median(x[4] for x in v) / 1e6:.2f} | "
                   f"{statistics.median(x[5] for x in v) / 1e6:.2f} |")
    print("\n".join(out))


def scale(runs_path, mailboxes, estimate_for):
    """Per-mailbox costs of mmirror's scale runs and the linear estimate."""
    n, big = int(mailboxes), int(estimate_for)
    rows = [l.rstrip("\n").split("\t") for l in open(runs_path) if l.strip()]
    out = ["| pass | runs | median wall s | median CPU s | commands prod+backup | "
           "conns prod/backup | peak RSS KiB | wall ms/mailbox | CPU ms/mailbox | "
           f"commands/mailbox | estimate for {big:,} mailboxes: wall | CPU |",
           "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for phase, title in PHASES:
        prs = [r for r in rows if r[0] == phase and r[3] == "mmirror"]
        if not prs:
            continue
        wall = statistics.median(float(r[4]) for r in prs)
        cpu = statistics.median(float(r[5]) + float(r[6]) for r in prs)
        cmds = statistics.median(int(r[8]) + int(r[9]) for r in prs)
        rss = max(int(r[7]) for r in prs)
        conns = f"{prs[-1][13]}/{prs[-1][14]}"
        out.append(f"| {title} | {len(prs)} | {wall:.2f} | {cpu:.2f} | {cmds:g} | {conns} | "
                   f"{rss} | {1000 * wall / n:.2f} | {1000 * cpu / n:.2f} | {cmds / n:.2f} | "
                   f"{wall / n * big / 60:.1f} min | {cpu / n * big / 60:.1f} min |")
    out.append("")
    out.append(f"- the estimate is linear: (median of the measured pass / {n:,} mailboxes) "
               f"x {big:,}; it assumes the per-mailbox cost stays what it was at {n:,} "
               "(the servers on the same two cores, small messages), so it is an estimate, "
               "not a measurement")
    print("\n".join(out))


def perf(dso_path, sym_path):
    """The share of samples by DSO and the top 15 symbols of perf report."""
    line = re.compile(r"^\s*([0-9.]+)%\s+(.*\S)\s*$")

    def rows(path):
        out = []
        for x in open(path, errors="replace"):
            if x.startswith("#") or not x.strip():
                continue
            m = line.match(x)
            if m:
                out.append((float(m.group(1)), m.group(2)))
        return out

    groups = [("kernel", r"kernel|vmlinux|\[k\]"), ("libz", r"libz\."),
              ("libcrypto/libssl", r"libcrypto|libssl"), ("libc", r"libc[.-]"),
              ("libdb", r"libdb"), ("mmirror", r"mmirror")]
    shares = {g: 0.0 for g, _ in groups}
    other = 0.0
    dsos = rows(dso_path)
    for pct, name in dsos:
        for g, rx in groups:
            if re.search(rx, name):
                shares[g] += pct
                break
        else:
            other += pct
    out = ["| DSO group | share of samples |", "|---|---:|"]
    for g, _ in groups:
        out.append(f"| {g} | {shares[g]:.1f} % |")
    out.append(f"| other | {other:.1f} % |")
    out.append("")
    # symbols perf could not name (a stripped library without its debug
    # symbols) are bare addresses: one row per DSO for all of them
    merged = {}
    for pct, name in rows(sym_path):
        m = re.match(r"^\[(.)\]\s+0x[0-9a-f]+\s+(\S+)$", name)
        if m:
            name = f"[{m.group(1)}] (addresses without a symbol)  {m.group(2)}"
        name = re.sub(r"\s{2,}", "  ", name)
        merged[name] = merged.get(name, 0.0) + pct
    top = sorted(merged.items(), key=lambda x: -x[1])[:15]
    out.append("| share | symbol (DSO) |")
    out.append("|---:|---|")
    for name, pct in top:
        out.append(f"| {pct:.2f} % | `{name}` |")
    print("\n".join(out))


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "mbsyncrc":
        mbsyncrc(*a[:7])
    elif cmd == "mmjson":
        mmjson(a[0])
    elif cmd == "mbcount":
        mbcount(*a[:3])
    elif cmd == "turnslice":
        turnslice(*a[:2])
    elif cmd == "report":
        report(*a[:3])
    elif cmd == "turns":
        turns(*a[:3])
    elif cmd == "scale":
        scale(*a[:3])
    elif cmd == "perf":
        perf(*a[:2])
    elif cmd == "days":
        days_line(a[0])
    elif cmd == "field":
        j = json.load(open(a[0]))
        for k in a[1].split("."):
            j = j[k]
        print(j)
    else:
        sys.exit(f"vs-mbsync-helper.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
