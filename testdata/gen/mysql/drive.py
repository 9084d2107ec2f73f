#!/usr/bin/env python3
"""Workloads for testdata/gen/mysql.sh: `drive.py WORKLOAD` runs one of them against the MariaDB
server at $MY_HOST:$MY_PORT (user ws / password wspass, database wst).

Clients: mysql-connector-python (pure Python, `use_pure=True`), PyMySQL, and `Raw`, a minimal
protocol client on top of an authenticated PyMySQL connection for the commands and parameter types
that no client library sends (COM_FIELD_LIST, COM_PROCESS_INFO, TINY/SHORT/FLOAT/YEAR/BIT
parameters, every DATETIME/TIME length form, SEND_LONG_DATA, cursors + FETCH, BULK_EXECUTE).
"""
import datetime
import decimal
import os
import socket
import struct
import sys
import threading
import time

import mysql.connector
import pymysql

H = os.environ.get("MY_HOST", "10.77.0.1")
P = int(os.environ.get("MY_PORT", "3306"))
USER, PW, DB = "ws", "wspass", "wst"


def conn_c(**kw):
    """mysql-connector-python, pure Python."""
    kw.setdefault("database", DB)
    return mysql.connector.connect(host=H, port=P, user=USER, password=PW, use_pure=True,
                                   connection_timeout=10, **kw)


def conn_p(**kw):
    kw.setdefault("database", DB)
    return pymysql.connect(host=H, port=P, user=USER, password=PW, connect_timeout=10, **kw)


class Raw:
    """Send single MySQL packets (sequence id 0) and read whatever comes back until idle."""

    def __init__(self, **kw):
        self.c = conn_p(**kw)
        self.s = self.c._sock

    def send(self, payload, seq=0):
        while True:
            chunk, payload = payload[:0xFFFFFF], payload[0xFFFFFF:]
            self.s.sendall(struct.pack("<I", len(chunk))[:3] + bytes([seq & 0xFF]) + chunk)
            seq += 1
            if len(chunk) < 0xFFFFFF:
                return

    def read(self, idle=0.08, first=2.0):
        buf = b""
        self.s.settimeout(first)
        try:
            buf += self.s.recv(1 << 20)
            self.s.settimeout(idle)
            while True:
                d = self.s.recv(1 << 20)
                if not d:
                    break
                buf += d
        except socket.timeout:
            pass
        return buf

    def cmd(self, code, arg=b"", reply=True):
        self.send(bytes([code]) + arg)
        return self.read() if reply else b""

    def prepare(self, sql):
        """COM_STMT_PREPARE; returns the statement id."""
        r = self.cmd(0x16, sql.encode())
        if len(r) < 9 or r[4] != 0:
            raise RuntimeError("prepare failed: %r" % r[:80])
        return struct.unpack("<I", r[5:9])[0]

    def execute(self, sid, params, flags=0, bound=True):
        """COM_STMT_EXECUTE. params: list of (type, unsigned, value_bytes or None)."""
        body = struct.pack("<IBI", sid, flags, 1)
        if params:
            n = len(params)
            bitmap = bytearray((n + 7) // 8)
            for i, (_, _, v) in enumerate(params):
                if v is None:
                    bitmap[i // 8] |= 1 << (i % 8)
            body += bytes(bitmap) + bytes([1 if bound else 0])
            if bound:
                for t, u, _ in params:
                    body += bytes([t, 0x80 if u else 0])
            for _, _, v in params:
                if v is not None:
                    body += v
        return self.cmd(0x17, body)

    def close(self):
        try:
            self.cmd(0x01, reply=False)
        finally:
            self.s.close()


def lenenc(b):
    n = len(b)
    if n < 251:
        return bytes([n]) + b
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n) + b
    return b"\xfd" + struct.pack("<I", n)[:3] + b


def setup():
    c = conn_p(database=None)
    cur = c.cursor()
    for q in [
        "DROP DATABASE IF EXISTS wst", "CREATE DATABASE wst", "USE wst",
        "CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64), qty INT, "
        "price DECIMAL(10,2), added DATETIME(6))",
        "CREATE TABLE types (id INT PRIMARY KEY AUTO_INCREMENT, ti TINYINT, tu TINYINT UNSIGNED, "
        "si SMALLINT, su SMALLINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, "
        "f FLOAT, d DOUBLE, dec1 DECIMAL(20,6), dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL, "
        "tm TIME(6), y YEAR, s VARCHAR(255), b BLOB, bits BIT(16), j LONGTEXT, n INT NULL)",
        "CREATE TABLE big (id INT PRIMARY KEY, data LONGBLOB)",
        "CREATE TABLE loaded (a INT, b VARCHAR(32), c DOUBLE)",
        "CREATE PROCEDURE twosets(IN n INT) BEGIN SELECT id, name FROM items WHERE id <= n; "
        "SELECT COUNT(*) AS cnt FROM items; UPDATE items SET qty = qty + 1 WHERE id = n; END",
    ]:
        cur.execute(q)
    for i in range(1, 21):
        cur.execute("INSERT INTO items (name, qty, price, added) VALUES (%s, %s, %s, NOW(6))",
                    ("item-%02d" % i, i * 3, "%d.%02d" % (i, i)))
    c.commit()
    c.close()


def text_workload(compress=False):
    """The same statements, run uncompressed or compressed (the twins compare these)."""
    c = conn_c(compress=compress)
    cur = c.cursor()
    cur.execute("SELECT id, name, qty FROM items WHERE id < 6")
    cur.fetchall()
    cur.execute("SELECT * FROM items WHERE name IN ('item-01', 'item-02', 'item-03')")
    cur.fetchall()
    cur.execute("INSERT INTO items (name, qty, price, added) VALUES ('new', 1, 9.99, NOW())")
    cur.execute("UPDATE items SET qty = qty + 1 WHERE id BETWEEN 2 AND 4")
    cur.execute("DELETE FROM items WHERE name = 'new'")
    for q in ("SELEC broken syntax", "SELECT * FROM no_such_table", "INSERT INTO items (id) VALUES (1)"):
        try:
            cur.execute(q)
        except mysql.connector.Error:
            pass
    cur.execute("SELECT REPEAT('x', 5000) AS wide, 42 AS n")
    cur.fetchall()
    cur.execute("SHOW VARIABLES LIKE 'version%'")
    cur.fetchall()
    cur.execute("SELECT 1 FROM items WHERE 1 = 0")
    cur.fetchall()
    c.commit()
    c.cmd_init_db("mysql")
    c.cmd_init_db("wst")
    c.ping()
    c.cmd_statistics()
    cur.execute("SELECT * FROM items")   # a 21-row result
    cur.fetchall()
    cur.close()
    c.close()


def prepared_workload(compress=False):
    c = conn_c(compress=compress)
    cur = c.cursor(prepared=True)
    cur.execute("SELECT id, name, price FROM items WHERE id = %s", (3,))
    cur.fetchall()
    cur.execute("SELECT id, name, price FROM items WHERE id = %s", (7,))   # re-executed, same id
    cur.fetchall()
    cur.execute(
        "INSERT INTO types (ti, si, i, bi, bu, f, d, dec1, dt, dtm, tm, s, b, n) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (-5, -300, -70000, -(1 << 40), (1 << 64) - 1, 1.5, -2.25, decimal.Decimal("12345.678901"),
         datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 13, 14, 15, 123456),
         datetime.timedelta(hours=-1, minutes=-2, seconds=-3), "héllo wörld", b"\x00\x01\xff\xfe", None))
    cur.execute("SELECT * FROM types WHERE id >= %s ORDER BY id DESC LIMIT 1", (1,))
    cur.fetchall()
    try:
        cur.execute("SELECT * FROM items WHERE nosuchcol = %s", (1,))
    except mysql.connector.Error:
        pass
    cur.execute("UPDATE items SET qty = %s WHERE id = %s", (100, 5))
    cur.close()
    c.close()


def raw_types():
    """Every parameter type and length form, through COM_STMT_EXECUTE built by hand."""
    r = Raw()
    sid = r.prepare(
        "INSERT INTO types (ti, tu, si, su, i, iu, bi, bu, f, d, dec1, dt, dtm, ts, tm, y, s, b, "
        "bits, j, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

    def dt(y, mo, d):
        return bytes([4]) + struct.pack("<HBB", y, mo, d)

    params = [
        (0x01, False, struct.pack("<b", -128)),                 # TINY
        (0x01, True, struct.pack("<B", 255)),                   # TINY UNSIGNED
        (0x02, False, struct.pack("<h", -32768)),               # SHORT
        (0x02, True, struct.pack("<H", 65535)),                 # SHORT UNSIGNED
        (0x03, False, struct.pack("<i", -2147483648)),          # LONG
        (0x03, True, struct.pack("<I", 4294967295)),            # LONG UNSIGNED
        (0x08, False, struct.pack("<q", -9223372036854775808)),  # LONGLONG
        (0x08, True, struct.pack("<Q", 18446744073709551615)),  # LONGLONG UNSIGNED
        (0x04, False, struct.pack("<f", 3.5)),                  # FLOAT
        (0x05, False, struct.pack("<d", -1.0e-300)),            # DOUBLE
        (0xF6, False, lenenc(b"-98765.432100")),                # NEWDECIMAL
        (0x0A, False, dt(1999, 12, 31)),                        # DATE (4)
        (0x0C, False, bytes([11]) + struct.pack("<HBBBBBI", 2024, 1, 2, 3, 4, 5, 678901)),  # DATETIME (11)
        (0x07, False, bytes([7]) + struct.pack("<HBBBBB", 2020, 6, 7, 8, 9, 10)),  # TIMESTAMP (7)
        (0x0B, False, bytes([12]) + struct.pack("<BIBBBI", 1, 2, 3, 4, 5, 600000)),  # TIME (12), negative
        (0x0D, False, struct.pack("<H", 2024)),                 # YEAR
        (0xFD, False, lenenc("snowman ☃".encode())),           # VAR_STRING
        (0xFC, False, lenenc(bytes(range(40)))),                # BLOB
        (0x10, False, lenenc(b"\x0a\x0b")),                     # BIT
        (0xF5, False, lenenc(b'{"k": [1, 2, "three"]}')),       # JSON
        (0x06, False, None),                                    # NULL
    ]
    # MariaDB 10.11 rejects JSON (0xF5) as a parameter type ("Incorrect arguments to
    # mysqld_stmt_execute", error 1210) and, for reasons not investigated, this 21-parameter
    # INSERT too: it stays as a decoding case with an ERR reply; each type alone follows.
    r.execute(sid, [(0xFD, False, v) if t in (0xF5, 0x10) else (t, u, v) for t, u, v in params])
    one = r.prepare("SELECT ?")
    for p in params:
        r.execute(one, [p])
    # Zero-length and short forms: DATE/DATETIME/TIME with length 0, DATETIME 4 and 7, TIME 8.
    sid2 = r.prepare("SELECT ?, ?, ?, ?, ?, ?")
    r.execute(sid2, [(0x0A, False, b"\x00"), (0x0C, False, b"\x00"), (0x0B, False, b"\x00"),
                     (0x0C, False, dt(2001, 2, 3)),
                     (0x0C, False, bytes([7]) + struct.pack("<HBBBBB", 2001, 2, 3, 4, 5, 6)),
                     (0x0B, False, bytes([8]) + struct.pack("<BIBBB", 0, 0, 23, 59, 58))])
    # Re-execute without re-sending types (new-params-bound = 0).
    r.execute(sid2, [(0x0A, False, dt(2002, 3, 4)), (0x0C, False, b"\x00"), (0x0B, False, b"\x00"),
                     (0x0C, False, dt(2003, 4, 5)),
                     (0x0C, False, bytes([7]) + struct.pack("<HBBBBB", 2003, 4, 5, 6, 7, 8)),
                     (0x0B, False, bytes([8]) + struct.pack("<BIBBB", 1, 1, 1, 1, 1))], bound=False)
    # SEND_LONG_DATA for parameter 0 then execute (that value comes from the long data).
    sid3 = r.prepare("SELECT LENGTH(?), ?")
    r.cmd(0x18, struct.pack("<IH", sid3, 0) + b"L" * 3000, reply=False)
    r.cmd(0x18, struct.pack("<IH", sid3, 0) + b"M" * 2000, reply=False)
    r.execute(sid3, [(0xFC, False, b""), (0x03, False, struct.pack("<i", 7))])
    # COM_STMT_RESET, then a cursor: execute with CURSOR_TYPE_READ_ONLY and FETCH in steps.
    r.cmd(0x1A, struct.pack("<I", sid3))
    sid4 = r.prepare("SELECT id, name FROM items ORDER BY id")
    r.execute(sid4, [], flags=1)
    r.cmd(0x1C, struct.pack("<II", sid4, 5))
    r.cmd(0x1C, struct.pack("<II", sid4, 100))
    # A failing execute (duplicate key), then STMT_CLOSE (no reply).
    sid5 = r.prepare("INSERT INTO items (id, name) VALUES (?, ?)")
    r.execute(sid5, [(0x03, False, struct.pack("<i", 1)), (0xFD, False, lenenc(b"dup"))])
    for s in (sid, sid2, sid3, sid4, sid5):
        r.cmd(0x19, struct.pack("<I", s), reply=False)
    # MariaDB COM_STMT_BULK_EXECUTE (0xFA): 3 rows of (INT, VARCHAR), indicator bytes, types sent.
    sid6 = r.prepare("INSERT INTO loaded (a, b) VALUES (?, ?)")
    body = struct.pack("<IH", sid6, 128)          # flags: SEND_TYPES_TO_SERVER
    body += bytes([0x03, 0, 0xFD, 0])
    for i in range(3):
        body += b"\x00" + struct.pack("<i", i) + b"\x00" + lenenc(b"bulk-%d" % i)
    r.cmd(0xFA, body)
    r.cmd(0x19, struct.pack("<I", sid6), reply=False)
    r.close()


def raw_commands():
    """The commands no client library sends, plus the rest of the COM_* set."""
    r = Raw()
    r.cmd(0x04, b"items\x00")                 # FIELD_LIST
    r.cmd(0x04, b"items\x00na%")              # FIELD_LIST with a wildcard
    r.cmd(0x0A)                               # PROCESS_INFO
    r.cmd(0x09)                               # STATISTICS
    r.cmd(0x0E)                               # PING
    r.cmd(0x07, b"\x00")                      # REFRESH (grant tables: needs RELOAD)
    r.cmd(0x0D)                               # DEBUG (needs SUPER)
    r.cmd(0x1B, b"\x00\x00")                  # SET_OPTION multi-statements on
    r.cmd(0x03, b"SELECT 1; SELECT 2, 3")     # multi-statement through COM_QUERY
    r.cmd(0x1B, b"\x01\x00")                  # SET_OPTION off
    r.cmd(0x1F)                               # RESET_CONNECTION
    r.cmd(0x05, b"rawdb")                     # CREATE_DB (MariaDB: unknown command)
    r.cmd(0x06, b"rawdb")                     # DROP_DB
    r.cmd(0x02, b"nosuchdb")                  # INIT_DB error 1049
    r.cmd(0xEE, b"junk")                      # an unknown command byte
    k = Raw()
    kid = k.c.thread_id()
    r.cmd(0x0C, struct.pack("<I", kid))       # PROCESS_KILL of another connection
    r.cmd(0x0C, struct.pack("<I", 999999))    # PROCESS_KILL unknown thread -> error
    try:
        k.s.close()
    except OSError:
        pass
    r.close()
    # CHANGE_USER through mysql-connector (ok and wrong password).
    c = conn_c()
    c.cmd_change_user(username=USER, password=PW, database="mysql")
    cur = c.cursor()
    cur.execute("SELECT DATABASE()")
    cur.fetchall()
    try:
        c.cmd_change_user(username=USER, password="wrong", database=DB)
    except mysql.connector.Error:
        pass
    try:
        c.close()
    except Exception:
        pass
    c = conn_c()
    c.cmd_reset_connection()
    try:
        c.cmd_process_kill(c.connection_id)  # KILL itself (as a QUERY): ERR 1927
        c.close()
    except Exception:
        pass


def pymysql_workload():
    c = conn_p(client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    cur = c.cursor()
    cur.execute("SELECT id, name FROM items WHERE qty > %s ORDER BY id LIMIT 5", (10,))
    cur.fetchall()
    cur.executemany("INSERT INTO loaded (a, b, c) VALUES (%s, %s, %s)",
                    [(i, "pm-%d" % i, i / 3) for i in range(10)])
    cur.execute("SELECT 1; SELECT 2 AS two; INSERT INTO loaded (a) VALUES (99)")
    while cur.nextset():
        pass
    cur.execute("CALL twosets(%s)", (3,))
    while cur.nextset():
        pass
    try:
        cur.execute("SELECT 1; SELECT * FROM nope; SELECT 3")
        while cur.nextset():
            pass
    except pymysql.MySQLError:
        pass
    c.commit()
    c.close()


def multi_workload():
    c = conn_c(client_flags=[mysql.connector.ClientFlag.MULTI_STATEMENTS])
    cur = c.cursor()
    cur.execute("SELECT 1 AS a; SELECT 2 AS b, 3 AS c; UPDATE items SET qty = qty WHERE id = 1")
    while True:
        if cur.with_rows:
            cur.fetchall()
        if not cur.nextset():
            break
    cur.callproc("twosets", (4,))
    for r in cur.stored_results():
        r.fetchall()
    pc = c.cursor(prepared=True)
    pc.execute("CALL twosets(?)", (2,))
    try:
        pc.fetchall()
        while pc.nextset():
            pc.fetchall()
    except Exception:
        pass
    pc.close()
    cur.close()
    c.close()


def infile():
    path = "/tmp/wiresift-mysql-infile.csv"
    with open(path, "w") as f:
        for i in range(200):
            f.write("%d,row-%03d,%f\n" % (i, i, i * 1.5))
    c = conn_c(allow_local_infile=True)
    cur = c.cursor()
    cur.execute("LOAD DATA LOCAL INFILE '%s' INTO TABLE loaded FIELDS TERMINATED BY ','" % path)
    cur.execute("SELECT COUNT(*) FROM loaded")
    cur.fetchall()
    c.commit()
    c.close()


def login_fail():
    for kw in ({"password": "wrong-password"}, {"database": "no_such_db"}):
        try:
            mysql.connector.connect(host=H, port=P, user=kw.get("user", USER),
                                    password=kw.get("password", PW),
                                    database=kw.get("database", DB), use_pure=True)
        except mysql.connector.Error:
            pass
    try:
        pymysql.connect(host=H, port=P, user="nobody", password="x", connect_timeout=5)
    except pymysql.MySQLError:
        pass
    c = conn_p()
    c.cursor().execute("SELECT 'after the failures'")
    c.close()


def bigrow(compress=False):
    c = conn_c(compress=compress)
    cur = c.cursor()
    data = (b"0123456789abcdef" * 64) * 17 * 1024   # 17 MiB
    cur.execute("DELETE FROM big")
    cur.execute("INSERT INTO big (id, data) VALUES (1, %s)", (data,))
    c.commit()
    cur.execute("SELECT id, data FROM big")
    cur.fetchall()
    cur.execute("SELECT LENGTH(data) FROM big")
    cur.fetchall()
    cur.close()
    c.close()


def loop(seconds, compress=False, delay=0.02, prepared=False):
    """Steady small queries for `seconds` (for lossy and midstream captures). Autocommit, so
    that the connections' UPDATEs do not wait for each other's row locks."""
    c = conn_c(compress=compress, autocommit=True)
    cur = c.cursor(prepared=prepared)
    end = time.time() + seconds
    i = 0
    while time.time() < end:
        i += 1
        cur.execute("SELECT id, name, qty, price FROM items WHERE id = %s", (i % 20 + 1,))
        cur.fetchall()
        if i % 5 == 0:
            cur.execute("UPDATE items SET qty = qty + 1 WHERE id = %s", (i % 20 + 1,))
        if i % 7 == 0:
            cur.execute("SELECT name FROM items WHERE qty > %s LIMIT 10", (i % 50,))
            cur.fetchall()
        if delay:
            time.sleep(delay)
    c.commit()
    cur.close()
    c.close()


def lossy():
    ts = [threading.Thread(target=loop, args=(4,), kwargs={"delay": 0}),
          threading.Thread(target=loop, args=(4,), kwargs={"delay": 0, "compress": True}),
          threading.Thread(target=loop, args=(4,), kwargs={"delay": 0, "prepared": True})]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def midstream():
    ts = [threading.Thread(target=loop, args=(3,)),
          threading.Thread(target=loop, args=(3,), kwargs={"compress": True}),
          threading.Thread(target=loop, args=(3,), kwargs={"prepared": True})]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


W = {
    "setup": setup,
    "text": text_workload,
    "text-compress": lambda: text_workload(compress=True),
    "prepared": prepared_workload,
    "prepared-compress": lambda: prepared_workload(compress=True),
    "raw-types": raw_types,
    "raw-commands": raw_commands,
    "pymysql": pymysql_workload,
    "multi": multi_workload,
    "infile": infile,
    "login-fail": login_fail,
    "bigrow": bigrow,
    "bigrow-compress": lambda: bigrow(compress=True),
    "lossy": lossy,
    "midstream": midstream,
}

if __name__ == "__main__":
    W[sys.argv[1]]()
