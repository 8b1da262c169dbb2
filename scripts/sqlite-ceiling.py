#!/usr/bin/env python3
"""The SQLite ceiling for the events table of schema/*.sql (all migrations, in order), measured outside Swift: the rows of
selfheal-bench ingest inserted by Python's sqlite3 executemany (a loop in C) in 1,000-row transactions under
synchronous=FULL. Usage: scripts/sqlite-ceiling.py [ts,id] (drop those indexes first, to see what each costs)."""
import os, sqlite3, sys, tempfile, time
directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'schema')
schema = ''.join(open(os.path.join(directory, name)).read() for name in sorted(os.listdir(directory)) if name.endswith('.sql'))
path = os.path.join(tempfile.mkdtemp(), 'ceiling.db')
for f in (path, path+'-wal', path+'-shm'):
    if os.path.exists(f): os.remove(f)
db = sqlite3.connect(path, isolation_level=None)
db.execute('PRAGMA journal_mode=WAL'); db.execute('PRAGMA synchronous=FULL')
db.executescript(schema)
drop = sys.argv[1] if len(sys.argv) > 1 else ''
if 'ts' in drop: db.execute('DROP INDEX events_by_ts')
if 'id' in drop: db.execute('DROP INDEX events_by_service_and_id')
rows = []
for i in range(500000):
    rows.append((1764063620200 + i*7, 1764063620200, 'portal-web', ['db-pool','/api/manager/assistance','openai','spam-capture'][i%4],
                 ['pool.warning','retry.attempt','breaker.opened','timeout.prevented','retry.succeeded'][i%5], 'warning',
                 'Connection pool at 85% (17/20), queueing new requests', 'inc-%d' % (i//50), 'evt-%d' % i,
                 '{"used":17,"max":20,"wait_ms":%d,"endpoint":"/api/dash"}' % (i % 400), 0, 1))
sql = 'INSERT OR IGNORE INTO events (ts, received_at, service, component, kind, level, message, incident, event_id, attrs, peer_uid, peer_pid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)'
t = time.time()
for s in range(0, len(rows), 1000):
    db.execute('BEGIN'); db.executemany(sql, rows[s:s+1000]); db.execute('COMMIT')
el = time.time() - t
print(drop or 'all indexes', int(len(rows)/el), 'rows/s')
