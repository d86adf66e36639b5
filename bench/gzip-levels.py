#!/usr/bin/env python3
"""Deflate level and strategy for the files target's gzip message files.

  bench/gzip-levels.py [--users N] [--messages M] [--seed S] [--rounds R]
                       [--seconds LO-HI]

Builds voice messages with fixtures/corpus.py's own builders (no server:
the same bytes `corpus.py generate` would APPEND), in two sets:

  corpus    the messages exactly as the corpus makes them (their WAV data
            is random bytes: the worst case for compression, and close to
            GSM 6.10, whose frames are already compressed)
  speech    the same messages with the G.711 (u-law, A-law) WAV data
            replaced by a speech-like signal (low-pass noise in bursts
            with pauses, G.711 encoded), closer to real recorded voice

(--seconds gives every audio part a duration from LO to HI seconds instead
of the corpus's short ones), and compresses each message on its own, as maildir/ writes them, with
zlib.compressobj(level, DEFLATED, 31, 8, strategy): a gzip member, the
same parameters as deflateInit2(level, Z_DEFLATED, 15 + 16, 8, strategy).
For each level and strategy: ratio (compressed / raw, over the whole
set), compression and decompression CPU seconds per MB of raw message
(process time, the best of --rounds rounds). Prints a Markdown section for
bench/RESULTS.md.
"""

import argparse
import datetime
import os
import platform
import random
import sys
import time
import zlib

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import corpus  # noqa: E402

SETTINGS = [
    ("1", 1, zlib.Z_DEFAULT_STRATEGY),
    ("6 (default)", 6, zlib.Z_DEFAULT_STRATEGY),
    ("9", 9, zlib.Z_DEFAULT_STRATEGY),
    ("6, Z_FILTERED", 6, zlib.Z_FILTERED),
    ("Z_HUFFMAN_ONLY", 6, zlib.Z_HUFFMAN_ONLY),
]
MB = 1024 * 1024


# the speech-like G.711 signal is corpus.py's (generate --recordings uses it)
ulaw = corpus.ulaw
alaw = corpus.alaw
ULAW = corpus.ULAW
ALAW = corpus.ALAW
speech_bytes = corpus.speech_bytes


def speech_wav(rng, tag, seconds):
    """corpus.wav() with speech-like data for G.711 (GSM kept random)."""
    if tag == 0x0031:
        return ORIG_WAV(rng, tag, seconds)
    _, rate, align, extra = corpus.WAV_FORMATS[tag]
    size = rate * seconds
    if corpus.DATA_CAP is not None:
        size = min(size, corpus.DATA_CAP)
    size -= size % align
    fmt = corpus.struct.pack("<HHIIHH", tag, 1, 8000, rate, align, 8) + extra
    chunks = (b"fmt " + corpus.struct.pack("<I", len(fmt)) + fmt +
              b"fact" + corpus.struct.pack("<II", 4, size) +
              b"data" + corpus.struct.pack("<I", size) +
              speech_bytes(rng, size, ULAW if tag == 0x0007 else ALAW))
    return b"RIFF" + corpus.struct.pack("<I", 4 + len(chunks)) + b"WAVE" + \
        chunks


ORIG_WAV = corpus.wav


def messages(seed, users, count):
    msgs = []
    for i in range(users):
        user = str(2001 + i)
        inbox, _ = corpus.inbox_messages(seed, user, count, 0)
        msgs.extend(m.data for m in inbox)
        rng = random.Random(f"{seed}:{user}:greetings")
        gb = corpus.Builder(rng, user, f"gr{seed}", month=1)
        msgs.extend(gb.greeting(t, False).data
                    for t in corpus.GREETING_TYPES)
    return msgs


def measure(msgs, level, strategy, rounds):
    raw = sum(len(m) for m in msgs)
    packed = None
    best_c = best_d = None
    for _ in range(rounds):
        t0 = time.process_time()
        out = []
        for m in msgs:
            c = zlib.compressobj(level, zlib.DEFLATED, 31, 8, strategy)
            out.append(c.compress(m) + c.flush())
        t1 = time.process_time()
        for o in out:
            zlib.decompress(o, 31)
        t2 = time.process_time()
        packed = sum(len(o) for o in out)
        best_c = t1 - t0 if best_c is None else min(best_c, t1 - t0)
        best_d = t2 - t1 if best_d is None else min(best_d, t2 - t1)
    return packed / raw, best_c / (raw / MB), best_d / (raw / MB)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--messages", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", default=None,
                    help="audio durations LO-HI (default: the corpus's)")
    args = ap.parse_args()
    if args.seconds is not None:
        lo, hi = (int(x) for x in args.seconds.split("-"))
        corpus.Builder.seconds = lambda self, tag: self.rng.randint(lo, hi)

    sets = []
    corpus.wav = ORIG_WAV
    sets.append(("corpus", messages(args.seed, args.users, args.messages)))
    corpus.wav = speech_wav
    sets.append(("speech", messages(args.seed, args.users, args.messages)))
    corpus.wav = ORIG_WAV

    now = datetime.datetime.now(datetime.timezone.utc)
    cmd = "bench/gzip-levels.py" + "".join(
        f" --{k} {v}" for k, v in vars(args).items() if v is not None)
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    print(f"## Files target: gzip level and strategy — "
          f"{now:%Y-%m-%d %H:%M} UTC")
    print()
    print(f"- command: `{cmd}`")
    print(f"- machine: {os.cpu_count()} CPUs, {cpu}; "
          f"{platform.system()} {platform.release()}; "
          f"Python {platform.python_version()}, zlib {zlib.ZLIB_RUNTIME_VERSION}")
    for name, msgs in sets:
        raw = sum(len(m) for m in msgs)
        print(f"- set `{name}`: {len(msgs)} messages, {raw} bytes "
              f"({raw / len(msgs) / 1024:.0f} KiB on average)")
    print("- each message compressed alone as a gzip member "
          "(windowBits 31, memLevel 8); CPU is process time, best of "
          f"{args.rounds} rounds, per MiB of raw message")
    print()
    print("| set | level, strategy | ratio | compress CPU s/MiB "
          "| decompress CPU s/MiB |")
    print("|---|---|---:|---:|---:|")
    for name, msgs in sets:
        for label, level, strategy in SETTINGS:
            ratio, c, d = measure(msgs, level, strategy, args.rounds)
            print(f"| {name} | {label} | {ratio:.3f} | {c:.4f} | {d:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
