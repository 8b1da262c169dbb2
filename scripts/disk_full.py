#!/usr/bin/env python3
"""Disk full, then space freed, under a running daemon (see scripts/overload.sh; needs root to mount a tmpfs).

The data directory is a small tmpfs. A client writes batches with ids and a sync after each; the filesystem is
filled; the syncs must then say ok:false (and the client resends the batch, as a client should); the filler is
removed; the same daemon must take writes again (ok:true) without a restart. At the end every acknowledged event
is stored once and `selfheal verify` passes.
"""
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

binary = os.environ.get("SELFHEAL_BIN", ".build/release/selfheal")
size_mb = int(os.environ.get("DISK_FULL_MB", "16"))
mount = tempfile.mkdtemp(prefix="selfheal-diskfull-")
subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", mount], check=True)
data = os.path.join(mount, "data")
log = open(os.path.join(tempfile.gettempdir(), "selfheal-diskfull-daemon.log"), "wb")
daemon = subprocess.Popen([binary, "serve", "--data-dir", data], stderr=log, stdout=subprocess.DEVNULL)
failures = []
try:
    sock_path = os.path.join(data, "ingest.sock")
    for _ in range(1000):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock_path)
            break
        except OSError:
            time.sleep(0.01)
    reader = s.makefile("rb")
    acked = 0
    replies = {"ok": 0, "failed": 0}
    errors = set()

    def batch(start, count=200):
        lines = [json.dumps({"service": "diskfull", "kind": "retry.attempt", "component": "c", "id": f"n{n}",
                             "message": "x" * 200}) for n in range(start, start + count)]
        s.sendall(("\n".join(lines) + '\n{"op":"sync"}\n').encode())
        answer = json.loads(reader.readline())
        return answer

    def write_once():
        global acked
        answer = batch(acked)
        if answer.get("ok") is True:
            acked += 200
            replies["ok"] += 1
            return True
        replies["failed"] += 1
        errors.add(answer.get("error", "?"))
        return False

    for _ in range(20):
        if not write_once():
            failures.append("a sync failed before the disk was full")
    filler = os.path.join(mount, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        chunk = b"\0" * 4096
        while os.write(fd, chunk) > 0:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    full_ok_before = replies["ok"]
    failed_in_a_row = 0
    for _ in range(500):
        if write_once():
            failed_in_a_row = 0
        else:
            failed_in_a_row += 1
            if failed_in_a_row >= 5:
                break
    acked_when_full = acked
    failed_while_full = replies["failed"]
    if failed_while_full == 0:
        failures.append("no sync said ok:false while the disk was full")
    os.remove(filler)
    resumed_after = None
    for attempt in range(1, 50):
        if write_once():
            resumed_after = attempt
            break
    for _ in range(20):
        if not write_once():
            failures.append("a sync failed after space was freed")
            break
    if resumed_after is None:
        failures.append("writes did not resume after space was freed")
    if daemon.poll() is not None:
        failures.append(f"the daemon exited ({daemon.returncode})")
    s.close()
    daemon.terminate()
    daemon.wait(timeout=60)
    db = sqlite3.connect(f"file:{data}/events.db?mode=ro", uri=True)
    ids = [row[0] for row in db.execute("SELECT event_id FROM events WHERE service = 'diskfull'")]
    count, top = db.execute("SELECT count(*), max(seq) FROM events").fetchone()
    db.close()
    missing = set(f"n{n}" for n in range(acked)) - set(ids)
    if missing:
        failures.append(f"{len(missing)} acknowledged events missing")
    if len(ids) != len(set(ids)):
        failures.append("an id is stored twice")
    if count != top:
        failures.append(f"seq is not gapless: {count} events, max seq {top}")
    verify = subprocess.run([binary, "verify", "--data-dir", data], capture_output=True, text=True)
    if verify.returncode != 0:
        failures.append("verify failed: " + verify.stdout + verify.stderr)
    print(f"disk full ({size_mb} MiB tmpfs): {full_ok_before} syncs ok before filling, then "
          f"{failed_while_full} said ok:false ({'; '.join(sorted(errors))}); space freed: the same daemon "
          f"(pid {daemon.pid}) answered ok:true on attempt {resumed_after}, then 20 more ok; "
          f"{acked} events acknowledged, {len(ids)} stored, seq gapless: {count == top}")
    print(verify.stdout.strip())
finally:
    if daemon.poll() is None:
        daemon.kill()
        daemon.wait()
    subprocess.run(["umount", mount])
    os.rmdir(mount)
if failures:
    print("disk full: FAILED: " + "; ".join(failures))
    sys.exit(1)
print("disk full: ok:false while full, writes resumed without a restart, every acknowledged event stored once")
