#!/usr/bin/env python3
"""python-oracledb (thin mode) scenario against testdata/gen/tns/listener.py.

Usage: client.py HOST PORT SCENARIO [SCENARIO...]
Scenarios:
  session   login, SELECT with several fetch round trips, DML with binds, executemany, PL/SQL,
            commit, rollback, ORA-00942, ORA-00904, a SQL text longer than the SDU, re-execute,
            ping, logoff
  badpw     login with a wrong password (ORA-01017)
  refuse    connect to an unknown service (listener REFUSE, ORA-12514)
  redirect  service `redir`: REDIRECT, then a new connection and a short session
  resend    service `resend`: RESEND, CONNECT again, short session
  bigsql    SDU 2 MiB: one SELECT of about 100 KB in a single DATA packet (32-bit length with a
            non-zero high half)
  pad       SDU 2 MiB: two queries whose replies are single DATA packets of exactly 65536 and
            131072 bytes (32-bit lengths 0x00010000 / 0x00020000)
  slow S    one session running a SELECT, a FETCH and an UPDATE every 50 ms for S seconds
            (for the mid-stream capture); prints "connected" once logged in
  longdsn   a connect descriptor over 230 bytes (sent in a DATA packet after the CONNECT), with
            SERVER and INSTANCE_NAME
  loop N    N sessions (load for the large capture)
"""

import sys

import oracledb

PW = "tiger-test-pw"


def dsn(host, port, service, sdu=None):
    s = f"(SDU={sdu})" if sdu else ""
    return f"(DESCRIPTION={s}(ADDRESS=(PROTOCOL=TCP)(HOST={host})(PORT={port}))(CONNECT_DATA=(SERVICE_NAME={service})))"


def connect(host, port, service="svc", password=PW, sdu=None):
    return oracledb.connect(user="scott", password=password, dsn=dsn(host, port, service, sdu))


def expect_error(fn, code):
    try:
        fn()
    except oracledb.DatabaseError as e:
        (err,) = e.args
        assert err.full_code == code, (err.full_code, code)
        print("expected error:", err.full_code)
        return
    raise AssertionError(f"no {code}")


def session(host, port):
    c = connect(host, port)
    cur = c.cursor()
    cur.arraysize = 100
    cur.execute("select id, name from t_rows where id > :1", [0])
    rows = cur.fetchall()
    assert len(rows) == 250, len(rows)
    print("rows:", len(rows))
    cur.execute("insert into t_items (id, name) values (:1, :2)", [1, "one"])
    print("insert rowcount:", cur.rowcount)
    cur.executemany("insert into t_items (id, name) values (:1, :2)", [(i, f"n{i}") for i in range(2, 12)])
    print("executemany rowcount:", cur.rowcount)
    # end-to-end attributes: sent as a piggyback on the next call
    c.module = "wiresift-mod"
    c.action = "update-items"
    c.client_identifier = "cid-42"
    cur.execute("update t_items set name = :1 where id = :2", ["uno", 1])
    cur.execute("begin null; end;")
    c.commit()
    cur.execute("delete from t_items where id = :1", [3])
    c.rollback()
    expect_error(lambda: cur.execute("select * from missing_table"), "ORA-00942")
    expect_error(lambda: cur.execute("select nosuchcol from t_rows"), "ORA-00904")
    long_sql = "select " + ", ".join(f"'value-{i:05d}' as c{i}" for i in range(1200)) + " from dual"
    cur.execute(long_sql)
    print("long sql:", len(long_sql), cur.fetchall()[:1])
    for _ in range(2):  # the second run re-executes the parsed cursor
        cur.execute("select id, name from t_rows where id > :1", [0])
        print("again:", len(cur.fetchmany(5)))
    c.ping()
    c.close()


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    while args:
        s = args.pop(0)
        if s == "session":
            session(host, port)
        elif s == "badpw":
            expect_error(lambda: connect(host, port, password="wrong-pw"), "ORA-01017")
        elif s == "refuse":
            try:
                connect(host, port, service="nosuch")
            except oracledb.Error as e:
                print("refused:", e)
        elif s == "redirect":
            c = connect(host, port, service="redir")
            c.cursor().execute("select 1 from dual")
            c.close()
        elif s == "resend":
            c = connect(host, port, service="resend")
            c.cursor().execute("select 1 from dual")
            c.close()
        elif s == "bigsql":
            c = connect(host, port, sdu=2097152)
            cur = c.cursor()
            sql = "select " + ", ".join(f"'big-{i:06d}' as c{i}" for i in range(5500)) + " from dual"
            cur.execute(sql)
            print("bigsql:", len(sql), cur.fetchall()[:1])
            c.close()
        elif s == "pad":
            c = connect(host, port, sdu=2097152)
            cur = c.cursor()
            cur.arraysize = 2000
            for t in ("t_pad", "t_pad2"):
                cur.execute(f"select v from {t}")
                print(t, len(cur.fetchall()))
            c.close()
        elif s == "slow":
            import time
            secs = float(args.pop(0))
            c = connect(host, port)
            print("connected", flush=True)
            cur = c.cursor()
            cur.arraysize = 20
            end = time.time() + secs
            while time.time() < end:
                cur.execute("select id, name from t_rows where id > :1", [200])
                cur.fetchmany(25)
                cur.execute("update t_items set name = :1 where id = :2", ["tick", 1])
                time.sleep(0.05)
            c.close()
        elif s == "longdsn":
            d = (f"(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST={host})(PORT={port}))"
                 "(CONNECT_DATA=(SERVICE_NAME=svc)(SERVER=DEDICATED)(INSTANCE_NAME=wiresift1)"
                 "(COLOCATION_TAG=a-rather-long-colocation-tag-to-pass-230-bytes)))")
            c = oracledb.connect(user="scott", password=PW, dsn=d)
            c.cursor().execute("select 1 from dual")
            c.close()
        elif s == "loop":
            n = int(args.pop(0))
            for _ in range(n):
                session(host, port)
        else:
            raise SystemExit(f"unknown scenario {s}")


if __name__ == "__main__":
    main()
