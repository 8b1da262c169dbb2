#!/usr/bin/env python3
"""N cycles of SIGKILL at random moments under 4 writers with ids (see scripts/crash-cycles.sh).

Each writer sends events with ids w<W>-style service "crash-w<W>" and id "n<N>", N counting from 0, in batches of
random size each followed by {"op":"sync"}; the events before a sync whose reply says ok:true are acknowledged.
On a broken connection (the daemon was killed) a writer waits for the restart and resends from its first
unacknowledged event: a repeat of a stored event is a duplicate, stored once.
After each restart: seq is gapless from 1 and every writer's stored ids are a prefix 0..M-1 with M >= what was
acknowledged (ids are unique per service, so each is stored at most once). At the end: every acknowledged
event is present exactly once, and `selfheal verify` passes.
"""
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

WRITERS = 4


class Writer(threading.Thread):
    def __init__(self, index, socket_path, generation):
        super().__init__(daemon=True)
        self.index = index
        self.service = f"crash-w{index}"
        self.socket_path = socket_path
        self.generation = generation
        self.acked = 0  # events 0..acked-1 are acknowledged
        self.sent = 0
        self.syncs_ok = 0
        self.syncs_failed = 0
        self.reconnects = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.rng = random.Random(index * 7919 + int(time.time()))

    def run(self):
        while not self.stop.is_set():
            seen = self.generation.wait_for_daemon()
            try:
                self.session()
            except (OSError, ValueError):
                self.reconnects += 1
                self.generation.wait_for_change(seen)

    def session(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.socket_path)
        reader = s.makefile("rb")
        next_id = self.acked
        try:
            while not self.stop.is_set():
                size = self.rng.randint(1, 400)
                lines = []
                for n in range(next_id, next_id + size):
                    lines.append(json.dumps({
                        "service": self.service, "kind": "retry.attempt", "component": "crash",
                        "id": f"n{n}", "attrs": {"attempt": n % 5 + 1},
                    }))
                lines.append('{"op":"sync"}')
                s.sendall(("\n".join(lines) + "\n").encode())
                self.sent += size
                reply = reader.readline()
                if not reply:
                    raise OSError("connection closed")
                answer = json.loads(reply)
                if answer.get("ok") is True:
                    next_id += size
                    with self.lock:
                        self.acked = next_id
                    self.syncs_ok += 1
                else:
                    self.syncs_failed += 1
                    raise OSError(f"sync failed: {answer}")
        finally:
            s.close()


class Generation:
    """Which daemon run the writers may connect to; they wait while the daemon is down."""

    def __init__(self):
        self.cond = threading.Condition()
        self.number = 0
        self.up = False

    def set(self, up):
        with self.cond:
            self.up = up
            if up:
                self.number += 1
            self.cond.notify_all()

    def wait_for_daemon(self):
        with self.cond:
            self.cond.wait_for(lambda: self.up)
            return self.number

    def wait_for_change(self, seen):
        with self.cond:
            self.cond.wait_for(lambda: self.number != seen and self.up, timeout=60)


def start_daemon(binary, data_dir, log):
    process = subprocess.Popen([binary, "serve", "--data-dir", data_dir], stdout=subprocess.DEVNULL, stderr=log)
    path = os.path.join(data_dir, "ingest.sock")
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the daemon exited with {process.returncode}; see {log.name}")
        try:
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.connect(path)
            probe.close()
            return process
        except OSError:
            time.sleep(0.01)
    raise SystemExit("the daemon did not start within 60 s")


def check(db_path, writers, final=False):
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        count, low, high = db.execute("SELECT count(*), min(seq), max(seq) FROM events").fetchone()
        if count and (low != 1 or high != count):
            return f"seq is not gapless: {count} events hold seqs {low} to {high}", count
        problems = []
        rows = dict(
            (service, (n, top)) for service, n, top in db.execute(
                "SELECT service, count(*), max(CAST(substr(event_id, 2) AS INTEGER)) FROM events GROUP BY service"
            )
        )
        for writer in writers:
            acked = writer.acked
            n, top = rows.get(writer.service, (0, -1))
            if n != top + 1:
                problems.append(f"{writer.service}: {n} stored ids but the highest is n{top}: a hole or a repeat")
            if n < acked:
                problems.append(f"{writer.service}: {acked} acknowledged, only {n} stored")
        if final:
            for writer in writers:
                ids = [row[0] for row in db.execute("SELECT event_id FROM events WHERE service = ?", (writer.service,))]
                if len(ids) != len(set(ids)):
                    problems.append(f"{writer.service}: an id is stored twice")
                missing = set(f"n{n}" for n in range(writer.acked)) - set(ids)
                if missing:
                    problems.append(f"{writer.service}: {len(missing)} acknowledged events missing")
        return ("; ".join(problems) or None), count
    finally:
        db.close()


def main():
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    binary = os.environ.get("SELFHEAL_BIN", ".build/debug/selfheal")
    low, high = (float(x) for x in os.environ.get("CRASH_DELAY", "0.05,1.5").split(","))
    data_dir = tempfile.mkdtemp(prefix="selfheal-crash-")
    db_path = os.path.join(data_dir, "events.db")
    log = open(os.path.join(data_dir, "daemon.log"), "ab")
    generation = Generation()
    writers = [Writer(i, os.path.join(data_dir, "ingest.sock"), generation) for i in range(WRITERS)]
    for writer in writers:
        writer.start()
    started = time.time()
    failures = 0
    print(f"crash-cycles: {cycles} cycles, {WRITERS} writers, SIGKILL after {low}-{high} s, data in {data_dir}")
    daemon = start_daemon(binary, data_dir, log)
    generation.set(True)
    for cycle in range(1, cycles + 1):
        time.sleep(random.uniform(low, high))
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        generation.set(False)
        acked_at_kill = sum(w.acked for w in writers)
        daemon = start_daemon(binary, data_dir, log)
        problem, stored = check(db_path, writers)
        generation.set(True)
        if problem:
            failures += 1
            print(f"cycle {cycle}: FAILED: {problem}")
        elif cycle % 10 == 0 or cycle == cycles:
            print(f"cycle {cycle}: {stored} events stored, {acked_at_kill} acknowledged at the kill, seq gapless")
    for writer in writers:
        writer.stop.set()
    for writer in writers:
        writer.join(timeout=60)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait()
    generation.set(False)
    problem, stored = check(db_path, writers, final=True)
    if problem:
        failures += 1
        print(f"final check: FAILED: {problem}")
    verify = subprocess.run([binary, "verify", "--data-dir", data_dir], capture_output=True, text=True)
    acked = sum(w.acked for w in writers)
    sent = sum(w.sent for w in writers)
    elapsed = time.time() - started
    print(
        f"{cycles} cycles in {elapsed:.0f} s: {acked} events acknowledged, {stored} stored "
        f"({sent - stored} sent again or unacknowledged), "
        f"{sum(w.syncs_ok for w in writers)} syncs ok, {sum(w.reconnects for w in writers)} reconnections"
    )
    print(verify.stdout.strip())
    if verify.returncode != 0:
        failures += 1
        print(f"verify FAILED: {verify.stderr.strip()}")
    if failures:
        print(f"crash-cycles: {failures} failures; data kept in {data_dir}")
        sys.exit(1)
    print("crash-cycles: every acknowledged event stored once, seq gapless after every restart, verify clean")
    subprocess.run(["rm", "-rf", data_dir])


if __name__ == "__main__":
    main()
