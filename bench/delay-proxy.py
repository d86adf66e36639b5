#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that adds latency without limiting bandwidth.

    delay-proxy.py [--max-seconds S] [--turns-log FILE]
                   LISTEN_PORT_FILE TARGET_HOST TARGET_PORT DELAY_MS
    delay-proxy.py --self-test [DELAY_MS]

Listens on 127.0.0.1 on a port the kernel picks and writes that port (one
line) to LISTEN_PORT_FILE once it accepts connections.  Every accepted
connection is forwarded to TARGET_HOST:TARGET_PORT, which must be
127.0.0.1.  Each chunk read from either side is stamped with the time it
arrived and written to the other side DELAY_MS later, so a round trip
through the proxy takes 2 x DELAY_MS more than without it while any number
of bytes can be in flight (a pipelining client gains, a lock-step one
pays the delay on every command).  Byte order is kept per direction; the
bytes are not looked at, so TLS passes through.  A half-close (EOF) is
passed on after the same delay.  At most 64 MB wait per direction before
reading from that side pauses.

--turns-log FILE: when each connection ends (and at exit for those still
open), one JSON line is appended to FILE: {"conn": N, "port": the
target port, "start": seconds since the epoch, "duration_s", "bytes_up"
(client to server), "bytes_down", "turns"}.  A turn is a burst of client
bytes after the server last spoke (the client's first bytes count as
one): for a client that waits for each answer, the round trips it paid.
The TLS handshake's flights count like any other bytes.

The proxy stops by itself after --max-seconds (default 600), and on
SIGTERM or SIGINT; it exits 0 then.  Exit 2: bad arguments.

--self-test starts an echo server and a proxy in front of it (delay 10 ms
by default), measures the round trip of small messages and the time to
push 32 MB through, prints the numbers as JSON and exits 0 when the round
trip is within 2 x DELAY_MS + 5 ms (and not below 2 x DELAY_MS) and the
bulk transfer took at most a quarter of the time it would take held to
one 64 KB chunk per delay (plus 0.5 s), else 1.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time

CHUNK = 65536
MAX_QUEUED = 64 * 1024 * 1024


class Direction:
    """One direction of one connection: reads, stamps, writes when due."""

    def __init__(self, reader, writer, delay, name, stats=None):
        self.stats = stats
        self.reader = reader
        self.writer = writer
        self.delay = delay
        self.name = name
        self.queue = asyncio.Queue()
        self.queued = 0
        self.room = asyncio.Event()
        self.room.set()

    async def read_side(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self.room.wait()
                data = await self.reader.read(CHUNK)
                due = loop.time() + self.delay
                if data and self.stats is not None:
                    self.stats.saw(self.name, len(data))
                if not data:
                    self.queue.put_nowait((due, None))
                    return
                self.queued += len(data)
                if self.queued >= MAX_QUEUED:
                    self.room.clear()
                self.queue.put_nowait((due, data))
        except (ConnectionError, OSError):
            self.queue.put_nowait((loop.time(), None))

    async def write_side(self):
        loop = asyncio.get_running_loop()
        while True:
            due, data = await self.queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                if self.writer.can_write_eof():
                    self.writer.write_eof()
                return
            self.writer.write(data)
            await self.writer.drain()
            self.queued -= len(data)
            if self.queued < MAX_QUEUED:
                self.room.set()


class Stats:
    """Bytes and client turns of one connection (see --turns-log)."""

    def __init__(self, number, port):
        self.number = number
        self.port = port
        self.start = time.time()
        self.t0 = time.monotonic()
        self.up = self.down = self.turns = 0
        self.last = None

    def saw(self, name, n):
        if name == "up":
            self.up += n
            if self.last != "up":
                self.turns += 1
        else:
            self.down += n
        self.last = name

    def line(self):
        return json.dumps({
            "conn": self.number, "port": self.port,
            "start": round(self.start, 3),
            "duration_s": round(time.monotonic() - self.t0, 3),
            "bytes_up": self.up, "bytes_down": self.down,
            "turns": self.turns}) + "\n"


class TurnsLog:
    """Appends each connection's Stats line to a file as it ends."""

    def __init__(self, path):
        self.path = path
        self.count = 0
        self.open = set()

    def begin(self, port):
        self.count += 1
        st = Stats(self.count, port)
        self.open.add(st)
        return st

    def end(self, st):
        if st in self.open:
            self.open.discard(st)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                         0o644)
            try:
                os.write(fd, st.line().encode())
            finally:
                os.close(fd)

    def close(self):
        for st in list(self.open):
            self.end(st)


async def pipe(reader, writer, delay, name, stats=None):
    d = Direction(reader, writer, delay, name, stats)
    rd = asyncio.ensure_future(d.read_side())
    try:
        await d.write_side()
    finally:
        rd.cancel()


async def handle(client_reader, client_writer, target, delay, log=None):
    try:
        server_reader, server_writer = await asyncio.open_connection(*target)
    except OSError as e:
        print(f"delay-proxy: cannot connect to {target[0]}:{target[1]}: {e}",
              file=sys.stderr)
        client_writer.close()
        return
    for w in (client_writer, server_writer):
        sock = w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stats = log.begin(target[1]) if log is not None else None
    up = asyncio.ensure_future(pipe(client_reader, server_writer, delay, "up",
                                    stats))
    down = asyncio.ensure_future(pipe(server_reader, client_writer, delay,
                                      "down", stats))
    try:
        # Both directions end normally on EOF; a reset on one side ends
        # the whole connection.
        done, pending = await asyncio.wait({up, down},
                                           return_when=asyncio.FIRST_EXCEPTION)
        for t in pending:
            t.cancel()
    except asyncio.CancelledError:
        up.cancel()
        down.cancel()
        raise
    finally:
        for w in (client_writer, server_writer):
            try:
                w.close()
            except OSError:
                pass
        if stats is not None:
            log.end(stats)


async def serve(port_file, target, delay, max_seconds, stop=None,
                turns_log=None):
    """Serves until max_seconds pass or stop (a future) is done; without
    stop, SIGTERM and SIGINT end it."""
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(
                sig, lambda: stop.done() or stop.set_result(None))
    timer = loop.call_later(
        max_seconds, lambda: stop.done() or stop.set_result(None))

    conns = set()
    log = TurnsLog(turns_log) if turns_log is not None else None

    async def on_accept(r, w):
        task = asyncio.current_task()
        conns.add(task)
        try:
            await handle(r, w, target, delay, log)
        except (ConnectionError, OSError, asyncio.CancelledError):
            # Cancelled at shutdown: end quietly (asyncio's accept callback
            # would report a cancelled task as an unretrieved exception).
            pass
        finally:
            conns.discard(task)

    server = await asyncio.start_server(on_accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if port_file is not None:
        tmp = f"{port_file}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, port_file)
    await stop
    timer.cancel()
    server.close()
    for t in list(conns):
        t.cancel()
    await asyncio.gather(*conns, return_exceptions=True)
    if log is not None:
        log.close()
    return port


async def self_test(delay_ms):
    async def echo(r, w):
        try:
            while True:
                data = await r.read(CHUNK)
                if not data:
                    break
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def sink(r, w):
        total = 0
        while True:
            data = await r.read(CHUNK)
            if not data:
                break
            total += len(data)
        w.write(f"{total}\n".encode())
        await w.drain()
        w.close()

    echo_srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    sink_srv = await asyncio.start_server(sink, "127.0.0.1", 0)
    tmpdir = tempfile.mkdtemp(prefix="dp-")
    results = {"delay_ms": delay_ms}
    ok = True
    try:
        turns_path = os.path.join(tmpdir, "turns")

        async def proxy_to(port, turns_log=None):
            pf = os.path.join(tmpdir, f"port{port}")
            stop = asyncio.get_running_loop().create_future()
            task = asyncio.ensure_future(
                serve(pf, ("127.0.0.1", port), delay_ms / 1000.0, 60, stop,
                      turns_log))
            while not os.path.exists(pf):
                await asyncio.sleep(0.005)
            with open(pf) as f:
                return (task, stop), int(f.read())

        async def stop_proxy(proxy):
            task, stop = proxy
            stop.set_result(None)
            await task

        eport = echo_srv.sockets[0].getsockname()[1]
        ptask, pport = await proxy_to(eport, turns_path)
        r, w = await asyncio.open_connection("127.0.0.1", pport)
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                              socket.TCP_NODELAY, 1)
        rtts = []
        for i in range(20):
            msg = f"ping {i}\n".encode()
            t0 = time.monotonic()
            w.write(msg)
            await w.drain()
            got = await r.readexactly(len(msg))
            rtts.append((time.monotonic() - t0) * 1000.0)
            if got != msg:
                ok = False
        w.close()
        med = statistics.median(rtts)
        results["rtt_ms"] = {"median": round(med, 2), "min": round(min(rtts), 2),
                             "max": round(max(rtts), 2), "samples": len(rtts)}
        if not (2 * delay_ms <= min(rtts) and med <= 2 * delay_ms + 5):
            ok = False

        # Bulk: 32 MB one way.  Held to one 64 KB chunk per delay it would
        # take 32 MB / 64 KB x delay = 512 x delay; unlimited it takes
        # about one delay plus copying.
        await stop_proxy(ptask)
        # the pings were 20 turns, their bytes went both ways
        with open(turns_path) as f:
            conns = [json.loads(line) for line in f]
        sent = sum(len(f"ping {i}\n") for i in range(20))
        results["turns"] = conns
        if len(conns) != 1 or conns[0]["turns"] != 20 or \
                conns[0]["bytes_up"] != sent or conns[0]["bytes_down"] != sent:
            ok = False
        sport = sink_srv.sockets[0].getsockname()[1]
        ptask, pport = await proxy_to(sport)
        r, w = await asyncio.open_connection("127.0.0.1", pport)
        size = 32 * 1024 * 1024
        block = b"x" * CHUNK
        t0 = time.monotonic()
        for _ in range(size // CHUNK):
            w.write(block)
            await w.drain()
        w.write_eof()
        line = await r.readline()
        secs = time.monotonic() - t0
        w.close()
        results["bulk"] = {"bytes": size, "echoed_count": int(line or b"0"),
                           "seconds": round(secs, 3),
                           "mb_per_s": round(size / secs / 1e6, 1)}
        if int(line or b"0") != size or secs > 0.25 * 512 * delay_ms / 1000.0 + 0.5:
            ok = False
        await stop_proxy(ptask)
    finally:
        echo_srv.close()
        sink_srv.close()
        for name in os.listdir(tmpdir):
            os.unlink(os.path.join(tmpdir, name))
        os.rmdir(tmpdir)
    results["ok"] = ok
    print(json.dumps(results))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(
        description="TCP proxy on 127.0.0.1 adding DELAY_MS each way")
    ap.add_argument("--max-seconds", type=float, default=600.0,
                    help="stop after this long (default 600)")
    ap.add_argument("--turns-log", metavar="FILE",
                    help="append one JSON line per connection as it ends")
    ap.add_argument("--self-test", action="store_true",
                    help="measure an echo round trip through a proxy and exit")
    ap.add_argument("args", nargs="*",
                    help="LISTEN_PORT_FILE TARGET_HOST TARGET_PORT DELAY_MS")
    a = ap.parse_args()

    if a.self_test:
        if len(a.args) > 1:
            ap.error("--self-test takes at most DELAY_MS")
        delay_ms = float(a.args[0]) if a.args else 10.0
        return asyncio.run(self_test(delay_ms))

    if len(a.args) != 4:
        ap.error("need LISTEN_PORT_FILE TARGET_HOST TARGET_PORT DELAY_MS")
    port_file, host, port, delay = a.args
    if host != "127.0.0.1":
        ap.error(f"target host must be 127.0.0.1, not {host!r}")
    try:
        port = int(port)
        delay = float(delay)
    except ValueError:
        ap.error("TARGET_PORT must be an integer and DELAY_MS a number")
    if not 0 < port < 65536 or not 0 <= delay <= 10000:
        ap.error("TARGET_PORT out of range or DELAY_MS not within 0..10000")
    if not a.max_seconds > 0:
        ap.error("--max-seconds must be positive")
    asyncio.run(serve(port_file, (host, port), delay / 1000.0, a.max_seconds,
                      turns_log=a.turns_log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
