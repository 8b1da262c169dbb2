#!/usr/bin/env python3
"""The daemon a user would write instead of selfheal, for `selfheal-bench mixed` to compare against.

A plain asyncio server on a UNIX socket: each line is json.loads'ed and its fields inserted into SQLite, in
transactions of 1,000 rows (and whatever is pending when a connection closes or every 0.2 s). No validation, no
acknowledgements, no projections. After each commit it prints `rows N` (the rows committed so far) on stdout,
which is how the benchmark knows every line has arrived; it prints `listening PATH` once it accepts connections.

    python3 scripts/peer-asyncio-daemon.py --socket /tmp/peer.sock --db /tmp/peer.db [--synchronous FULL]

SIGTERM or SIGINT: commits what is pending and exits 0.
"""

import argparse
import asyncio
import json
import signal
import sqlite3
import sys

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    service TEXT, kind TEXT, level TEXT, component TEXT, ts TEXT,
    message TEXT, incident TEXT, id TEXT, attrs TEXT
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
"""
INSERT = "INSERT INTO events (service, kind, level, component, ts, message, incident, id, attrs) VALUES (?,?,?,?,?,?,?,?,?)"


class Writer:
    """Rows waiting for their transaction, and the connection that commits them."""

    def __init__(self, path, synchronous, batch):
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.executescript(SCHEMA)
        self.batch = batch
        self.rows = []
        self.committed = 0
        self.skipped = 0

    def add(self, line):
        try:
            event = json.loads(line)
        except ValueError:
            self.skipped += 1
            return
        attrs = event.get("attrs")
        self.rows.append((
            event.get("service"), event.get("kind"), event.get("level"), event.get("component"), event.get("ts"),
            event.get("message"), event.get("incident"), event.get("id"),
            None if attrs is None else json.dumps(attrs),
        ))
        if len(self.rows) >= self.batch:
            self.flush()

    def flush(self):
        if not self.rows:
            return
        self.db.execute("BEGIN")
        self.db.executemany(INSERT, self.rows)
        self.db.execute("COMMIT")
        self.committed += len(self.rows)
        self.rows = []
        print(f"rows {self.committed}", flush=True)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL", "OFF"])
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    writer = Writer(args.db, args.synchronous, args.batch)

    async def handle(reader, stream):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                writer.add(line)
        finally:
            writer.flush()
            stream.close()

    async def flush_now_and_then():
        while True:
            await asyncio.sleep(0.2)
            writer.flush()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await asyncio.start_unix_server(handle, path=args.socket)
    flusher = asyncio.create_task(flush_now_and_then())
    print(f"listening {args.socket}", flush=True)
    await stop.wait()
    server.close()
    flusher.cancel()
    writer.flush()
    if writer.skipped:
        print(f"skipped {writer.skipped} lines that were not JSON", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
