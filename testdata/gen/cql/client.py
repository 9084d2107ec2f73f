#!/usr/bin/env python3
"""Drive responder.py with the DataStax python driver (cassandra-driver or scylla-driver: both
install the `cassandra` package). One scenario per run:

    client.py HOST SCENARIO PROTOCOL_VERSION [COMPRESSION]

Scenarios: basic, ooo (out-of-order replies), paging, prepared, prepared2 (PREPARE on one
connection, EXECUTE on another, then Unprepared and re-prepare), batch, errors, auth, authfail,
events, tracing, steady SECONDS (for mid-stream pickup), load N (many concurrent queries).
"""
import sys
import time

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, EXEC_PROFILE_DEFAULT, ExecutionProfile
from cassandra.policies import FallthroughRetryPolicy, RoundRobinPolicy
from cassandra.query import BatchStatement, BatchType, SimpleStatement

host, scenario, version = sys.argv[1], sys.argv[2], sys.argv[3]
version = None if version == "auto" else int(version)   # auto: the driver negotiates
compression = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "none" else False


def cluster(**kw):
    prof = ExecutionProfile(retry_policy=FallthroughRetryPolicy(), load_balancing_policy=RoundRobinPolicy(),
                            request_timeout=10)
    if version is not None:
        kw["protocol_version"] = version
    return Cluster([host], port=kw.pop("port", int(__import__("os").environ.get("CQL_PORT", "9042"))), compression=compression,
                   schema_metadata_enabled=False, token_metadata_enabled=False,
                   max_schema_agreement_wait=0, execution_profiles={EXEC_PROFILE_DEFAULT: prof},
                   connect_timeout=10, control_connection_timeout=10, **kw)


def try_(f, *a, **kw):
    try:
        return f(*a, **kw)
    except Exception as e:  # noqa: BLE001 - errors are the point here
        print("  expected error:", type(e).__name__, str(e)[:100])
        return None


def basic(s):
    s.execute("CREATE KEYSPACE IF NOT EXISTS shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("USE shop")
    s.execute("CREATE TYPE IF NOT EXISTS shop.address (street text, zip int)")
    s.execute("CREATE TABLE IF NOT EXISTS shop.users (id int PRIMARY KEY, name text, tags set<text>, "
              "scores list<int>, attrs map<text,int>, home frozen<address>, pt tuple<int,text>, "
              "created timestamp, uid uuid)")
    s.execute("INSERT INTO shop.users (id, name) VALUES (%s, %s)", (1, "alice"))
    rows = list(s.execute("SELECT * FROM shop.users WHERE id = 2"))
    assert rows and rows[0].name == "user-002" and rows[0].home.zip == 10002, rows
    s.execute(SimpleStatement("SELECT count(*) FROM shop.users", consistency_level=ConsistencyLevel.QUORUM))
    s.execute("UPDATE shop.users SET name = 'bob' WHERE id = 3")
    s.execute("DELETE FROM shop.users WHERE id = 4")
    s.execute("SELECT * FROM shop.users WHERE id = 2 LIMIT 0")


def ooo(s):
    # delays chosen so that replies come back in the reverse order of the requests
    futs = []
    for i, d in enumerate([300, 200, 100, 0]):
        futs.append(s.execute_async("SELECT * FROM shop.users WHERE id = %d /* delay=%d */" % (i, d)))
    for f in futs:
        f.result()
    futs = [s.execute_async("INSERT INTO shop.users (id, name) VALUES (%d, 'x') /* delay=%d */" % (i, (7 - i) * 30))
            for i in range(8)]
    for f in futs:
        f.result()


def paging(s):
    st = SimpleStatement("SELECT * FROM shop.users", fetch_size=10)
    n = sum(1 for _ in s.execute(st))
    assert n == 25, n


def prepared(s):
    p = s.prepare("SELECT * FROM shop.users WHERE id = ?")
    for i in range(3):
        rows = list(s.execute(p, (i,)))
        assert rows and rows[0].id == 1
    ins = s.prepare("INSERT INTO shop.users (id, name) VALUES (?, ?)")
    s.execute(ins, (10, "ten"))


def prepared2(_s):
    # two clusters = two connections; a real node's prepared cache is shared by all of them
    c1, c2 = cluster(), cluster()
    s1, s2 = c1.connect(), c2.connect()
    p = s1.prepare("SELECT * FROM shop.users WHERE id = ?")
    s2.execute(p, (5,))                   # EXECUTE by id on the other connection
    s1.execute("/* clear prepared cache */ TRUNCATE system.prepared")
    s2.execute(p, (6,))                   # Unprepared -> the driver re-prepares on s2, retries
    c1.shutdown(); c2.shutdown()


def batch(s):
    ins = s.prepare("INSERT INTO shop.users (id, name) VALUES (?, ?)")
    for bt in (BatchType.LOGGED, BatchType.UNLOGGED, BatchType.COUNTER):
        b = BatchStatement(batch_type=bt, consistency_level=ConsistencyLevel.LOCAL_QUORUM)
        if bt == BatchType.COUNTER:
            b.add(SimpleStatement("UPDATE shop.counts SET n = n + 1 WHERE id = 1"))
            b.add(SimpleStatement("UPDATE shop.counts SET n = n + 2 WHERE id = 2"))
        else:
            b.add(ins, (20, "twenty"))
            b.add(SimpleStatement("INSERT INTO shop.users (id, name) VALUES (21, 'twenty-one')"))
            b.add(ins, (22, "twenty-two"))
        s.execute(b)
    b = BatchStatement()
    b.add(SimpleStatement("INSERT INTO shop.err_write_timeout (id) VALUES (1)"))
    try_(s.execute, b)


ERRORS = ["err_unavailable", "err_overloaded", "err_bootstrapping", "err_truncate", "err_write_timeout",
          "err_read_timeout", "err_read_failure", "err_function_failure", "err_write_failure", "err_server",
          "err_unauthorized", "nosuchtable", "err_config", "already_exists"]


def errors(s):
    for e in ERRORS:
        try_(s.execute, "SELECT * FROM shop.%s WHERE id = 1" % e)
    try_(s.execute, "SELEC * FROM shop.users")
    try_(s.execute, "CREATE TABLE shop.already_exists (id int PRIMARY KEY)")


def big(s):
    # a request and a reply larger than one v5 segment (128 KiB - 1): frames spanning segments
    s.execute("INSERT INTO shop.users (id, name) VALUES (99, '%s')" % ("x" * 200000))
    n = sum(1 for _ in s.execute(SimpleStatement("SELECT * FROM shop.users /* big_result */", fetch_size=5000)))
    assert n == 3000, n


def events(s):
    s.execute("/* push events */ SELECT * FROM system.local")
    time.sleep(0.5)


def tracing(s):
    f = s.execute_async("SELECT * FROM shop.users WHERE id = 7", trace=True)
    f.result()
    s.execute("SELECT count(*) FROM shop.users")   # a warning in the reply


def steady(s, seconds):
    print("connected", flush=True)
    end = time.time() + seconds
    i = 0
    p = s.prepare("SELECT * FROM shop.users WHERE id = ?")
    while time.time() < end:
        s.execute("SELECT * FROM shop.users WHERE id = %d" % (i % 20))
        s.execute(p, (i,))
        i += 1
        time.sleep(0.02)


def load(s, n):
    p = s.prepare("SELECT * FROM shop.users WHERE id = ?")
    futs = []
    for i in range(int(n)):
        if i % 2:
            futs.append(s.execute_async(p, (i,)))
        else:
            futs.append(s.execute_async("INSERT INTO shop.users (id, name) VALUES (%d, 'n%d')" % (i, i)))
        if len(futs) >= 64:
            for f in futs:
                f.result()
            futs = []
    for f in futs:
        f.result()


def main():
    if scenario == "authfail":
        c = cluster(auth_provider=PlainTextAuthProvider("cassandra", "wrong-password"))
        try_(c.connect)
        c.shutdown()
        return
    kw = {}
    if scenario == "auth":
        kw["auth_provider"] = PlainTextAuthProvider("cassandra", "cassandra")
    c = cluster(**kw)
    s = c.connect()
    s.execute("USE shop")
    if scenario == "auth":
        basic(s)
    elif scenario in ("steady", "load"):
        globals()[scenario](s, float(sys.argv[5]))
    else:
        globals()[scenario](s)
    c.shutdown()
    print("ok", scenario, version, compression or "none", flush=True)


main()
