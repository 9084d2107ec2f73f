#!/usr/bin/env python3
"""A small CQL native-protocol server (v3, v4, v5) written from the protocol specification
(apache/cassandra doc/native_protocol_v{3,4,5}.spec), used to make the captures in testdata/cql/.

It is not a database: it answers a fixed schema and canned data, but speaks the framing and the
message bodies exactly as the spec says, so that real drivers (DataStax python cassandra-driver,
scylla-driver, Node.js cassandra-driver) accept it, and their parsers check it.

Supported: OPTIONS/SUPPORTED, STARTUP (lz4 and snappy frame compression for v3/v4; v5 segment
framing with CRC24/CRC32, uncompressed or lz4 segments), PasswordAuthenticator (AUTHENTICATE,
AUTH_RESPONSE, AUTH_SUCCESS or Bad credentials), QUERY with paging, PREPARE/EXECUTE with one
prepared cache for all connections (as a real node has), BATCH, REGISTER and EVENT pushes,
tracing ids and warnings in replies, errors of every family (chosen by markers in the query
text), and replies delayed by a marker (`/* delay=MS */`) so that concurrent requests are
answered out of order.

Usage: responder.py [--port 9042] [--auth] [--host 0.0.0.0]
"""
import argparse
import hashlib
import socket
import struct
import threading
import time
import uuid
import zlib

try:
    import lz4.block as lz4_block
except ImportError:  # pragma: no cover
    lz4_block = None
try:
    import snappy
except ImportError:  # pragma: no cover
    snappy = None

# ---------------------------------------------------------------------------------------------
# primitive encoders ([short], [int], [string], ... of section 3 of the spec)

def short(n): return struct.pack(">H", n & 0xFFFF)
def int_(n): return struct.pack(">i", n)
def long_(n): return struct.pack(">q", n)
def string(s):
    b = s.encode() if isinstance(s, str) else s
    return short(len(b)) + b
def long_string(s):
    b = s.encode() if isinstance(s, str) else s
    return int_(len(b)) + b
def bytes_(b): return int_(-1) if b is None else int_(len(b)) + b
def short_bytes(b): return short(len(b)) + b
def string_list(xs): return short(len(xs)) + b"".join(string(x) for x in xs)
def string_map(m): return short(len(m)) + b"".join(string(k) + string(v) for k, v in m.items())
def string_multimap(m): return short(len(m)) + b"".join(string(k) + string_list(v) for k, v in m.items())
def inet(ip, port):
    a = socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
    return bytes([len(a)]) + a + int_(port)


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0
    def take(self, n):
        if n < 0 or self.i + n > len(self.b):
            raise ValueError("short body")
        v = self.b[self.i:self.i + n]; self.i += n; return v
    def byte(self): return self.take(1)[0]
    def short(self): return struct.unpack(">H", self.take(2))[0]
    def int(self): return struct.unpack(">i", self.take(4))[0]
    def long(self): return struct.unpack(">q", self.take(8))[0]
    def string(self): return self.take(self.short()).decode()
    def long_string(self): return self.take(self.int()).decode()
    def bytes(self):
        n = self.int(); return None if n < 0 else self.take(n)
    def short_bytes(self): return self.take(self.short())
    def string_map(self): return {self.string(): self.string() for _ in range(self.short())}
    def string_list(self): return [self.string() for _ in range(self.short())]
    def bytes_map(self): return {self.string(): self.bytes() for _ in range(self.short())}
    def rest(self): return self.b[self.i:]

# ---------------------------------------------------------------------------------------------
# CQL types: (code, args) and value encoders

ASCII, BIGINT, BLOB, BOOLEAN, DOUBLE, INT, TIMESTAMP, UUID, VARCHAR, INET = 1, 2, 3, 4, 7, 9, 0x0B, 0x0C, 0x0D, 0x10
LIST, MAP, SET, UDT, TUPLE = 0x20, 0x21, 0x22, 0x30, 0x31
T_TEXT = (VARCHAR,)
T_INT = (INT,)

def type_option(t):
    code = t[0]
    out = short(code)
    if code in (LIST, SET):
        out += type_option(t[1])
    elif code == MAP:
        out += type_option(t[1]) + type_option(t[2])
    elif code == UDT:
        _, ks, name, fields = t
        out += string(ks) + string(name) + short(len(fields))
        for fname, ft in fields:
            out += string(fname) + type_option(ft)
    elif code == TUPLE:
        out += short(len(t[1])) + b"".join(type_option(x) for x in t[1])
    return out

def enc(t, v):
    if v is None:
        return None
    c = t[0]
    if c in (VARCHAR, ASCII): return v.encode()
    if c == INT: return int_(v)
    if c in (BIGINT, TIMESTAMP): return long_(v)
    if c == BOOLEAN: return b"\x01" if v else b"\x00"
    if c == DOUBLE: return struct.pack(">d", v)
    if c == UUID: return v.bytes
    if c == BLOB: return v
    if c == INET: return socket.inet_pton(socket.AF_INET, v)
    if c in (LIST, SET):
        return int_(len(v)) + b"".join(bytes_(enc(t[1], x)) for x in v)
    if c == MAP:
        return int_(len(v)) + b"".join(bytes_(enc(t[1], k)) + bytes_(enc(t[2], x)) for k, x in v.items())
    if c == UDT:
        return b"".join(bytes_(enc(ft, v.get(fn))) for fn, ft in t[3])
    if c == TUPLE:
        return b"".join(bytes_(enc(et, x)) for et, x in zip(t[1], v))
    raise ValueError("type %r" % (t,))

# ---------------------------------------------------------------------------------------------
# the canned schema

ADDR = (UDT, "shop", "address", [("street", T_TEXT), ("zip", T_INT)])
USERS_COLS = [("id", T_INT), ("name", T_TEXT), ("tags", (SET, T_TEXT)), ("scores", (LIST, T_INT)),
              ("attrs", (MAP, T_TEXT, T_INT)), ("home", ADDR), ("pt", (TUPLE, [T_INT, T_TEXT])),
              ("created", (TIMESTAMP,)), ("uid", (UUID,))]

def user_row(i):
    return [i, "user-%03d" % i, {"t%d" % (i % 3), "all"}, [i, i * 2], {"a": i, "b": -i},
            {"street": "%d Main St" % i, "zip": 10000 + i}, (i, "p%d" % i),
            1700000000000 + i, uuid.UUID(int=i)]

USERS = [user_row(i) for i in range(1, 26)]   # 25 rows: pages of 10 -> 3 pages


def local_cols_and_row(addr):
    cols = [("key", T_TEXT), ("bootstrapped", T_TEXT), ("broadcast_address", (INET,)),
            ("cluster_name", T_TEXT), ("cql_version", T_TEXT), ("data_center", T_TEXT),
            ("host_id", (UUID,)), ("listen_address", (INET,)), ("native_protocol_version", T_TEXT),
            ("partitioner", T_TEXT), ("rack", T_TEXT), ("release_version", T_TEXT),
            ("rpc_address", (INET,)), ("schema_version", (UUID,)), ("tokens", (SET, T_TEXT))]
    row = ["local", "COMPLETED", addr, "wiresift-test", "3.4.5", "dc1",
           uuid.UUID("6f1a6f9c-0000-4000-8000-000000000001"), addr, "5",
           "org.apache.cassandra.dht.Murmur3Partitioner", "rack1", "4.1.3", addr,
           uuid.UUID("6f1a6f9c-0000-4000-8000-0000000000aa"), {"0"}]
    return cols, [row]

PEERS_COLS = [("peer", (INET,)), ("data_center", T_TEXT), ("host_id", (UUID,)),
              ("preferred_ip", (INET,)), ("rack", T_TEXT), ("release_version", T_TEXT),
              ("rpc_address", (INET,)), ("schema_version", (UUID,)), ("tokens", (SET, T_TEXT))]
PEERS_V2_COLS = [("peer", (INET,)), ("peer_port", T_INT), ("data_center", T_TEXT),
                 ("host_id", (UUID,)), ("native_address", (INET,)), ("native_port", T_INT),
                 ("rack", T_TEXT), ("release_version", T_TEXT), ("schema_version", (UUID,)),
                 ("tokens", (SET, T_TEXT))]

# ---------------------------------------------------------------------------------------------
# results and errors

class CqlError(Exception):
    def __init__(self, code, msg, extra=b""):
        super().__init__(msg)
        self.code, self.msg, self.extra = code, msg, extra
    def body(self):
        return int_(self.code) + string(self.msg) + self.extra

def col_specs(ks, table, cols):
    # global table spec (flag 0x0001), then name + type per column
    return string(ks) + string(table) + b"".join(string(n) + type_option(t) for n, t in cols)

def rows_result(ks, table, cols, rows, paging_state=None, skip_metadata=False):
    flags = 0x0001
    if paging_state is not None:
        flags |= 0x0002
    if skip_metadata:
        flags |= 0x0004
    out = int_(2) + int_(flags) + int_(len(cols))
    if paging_state is not None:
        out += bytes_(paging_state)
    if not skip_metadata:
        out += col_specs(ks, table, cols)
    out += int_(len(rows))
    for r in rows:
        out += b"".join(bytes_(enc(t, v)) for (_, t), v in zip(cols, r))
    return out

def void_result(): return int_(1)
def set_keyspace_result(ks): return int_(3) + string(ks)

def schema_change_body(change, target, ks, name=None, args=None):
    out = string(change) + string(target) + string(ks)
    if target != "KEYSPACE":
        out += string(name)
    if target in ("FUNCTION", "AGGREGATE"):
        out += string_list(args or [])
    return out

CONS = {"ONE": 1, "QUORUM": 4, "ALL": 5, "LOCAL_QUORUM": 6, "LOCAL_ONE": 10}

def error_for(q, version):
    """Errors chosen by a marker in the query text: one of each family."""
    ql = q.lower()
    ep = inet("10.77.0.9", 0)[:-4]  # [inetaddr] (no port) for the v5 reason map
    def reasonmap(n):
        return int_(n) + b"".join(ep + short(0x0000) for _ in range(n))
    if "err_unavailable" in ql:
        return CqlError(0x1000, "Cannot achieve consistency level QUORUM", short(4) + int_(2) + int_(1))
    if "err_overloaded" in ql:
        return CqlError(0x1001, "Server is overloaded")
    if "err_bootstrapping" in ql:
        return CqlError(0x1002, "Cannot read from a bootstrapping node")
    if "err_truncate" in ql:
        return CqlError(0x1003, "Truncate failed")
    if "err_write_timeout" in ql:
        extra = short(4) + int_(1) + int_(2) + string("SIMPLE")
        if version >= 5:
            pass  # contentions only for CAS write types
        return CqlError(0x1100, "Operation timed out - received only 1 responses.", extra)
    if "err_read_timeout" in ql:
        return CqlError(0x1200, "Operation timed out - received only 1 responses.",
                        short(4) + int_(1) + int_(2) + b"\x00")
    if "err_read_failure" in ql:
        if version >= 5:
            extra = short(4) + int_(1) + int_(2) + reasonmap(1) + b"\x00"
        else:
            extra = short(4) + int_(1) + int_(2) + int_(1) + b"\x00"
        return CqlError(0x1300, "Operation failed - received 1 responses and 1 failures", extra)
    if "err_function_failure" in ql:
        return CqlError(0x1400, "execution of 'shop.boom[int]' failed",
                        string("shop") + string("boom") + string_list(["int"]))
    if "err_write_failure" in ql:
        if version >= 5:
            extra = short(4) + int_(1) + int_(2) + reasonmap(1) + string("BATCH")
        else:
            extra = short(4) + int_(1) + int_(2) + int_(1) + string("BATCH")
        return CqlError(0x1500, "Operation failed - received 1 responses and 1 failures", extra)
    if "err_server" in ql:
        return CqlError(0x0000, "java.lang.RuntimeException: boom")
    if "err_protocol" in ql:
        return CqlError(0x000A, "Invalid or unsupported protocol feature")
    if "err_unauthorized" in ql:
        return CqlError(0x2100, "User alice has no SELECT permission on <table shop.secret>")
    if "err_invalid" in ql or "nosuchtable" in ql:
        return CqlError(0x2200, "unconfigured table nosuchtable")
    if "err_config" in ql:
        return CqlError(0x2300, "Cannot drop non existing keyspace")
    if "already_exists" in ql:
        return CqlError(0x2400, "Cannot add already existing table \"users\" to keyspace \"shop\"",
                        string("shop") + string("users"))
    if ql.startswith("selec ") or "syntax error" in ql:
        return CqlError(0x2000, "line 1:0 no viable alternative at input 'selec'")
    return None

# ---------------------------------------------------------------------------------------------
# framing: v5 segments

CRC24_INIT, CRC24_POLY = 0x875060, 0x1974F0B
CRC32_SEED = zlib.crc32(b"\xfa\x2d\x55\xca")
MAX_SEG = 128 * 1024 - 1

def crc24(value, nbytes):
    crc = CRC24_INIT
    for _ in range(nbytes):
        crc ^= (value & 0xFF) << 16
        value >>= 8
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= CRC24_POLY
    return crc & 0xFFFFFF

def encode_segments(payload, lz4seg):
    chunks = [payload[i:i + MAX_SEG] for i in range(0, len(payload), MAX_SEG)] or [b""]
    selfc = len(chunks) == 1
    out = b""
    for ch in chunks:
        if lz4seg:
            comp = lz4_block.compress(ch, store_size=False)
            if len(comp) >= len(ch):
                data, ulen = ch, 0
            else:
                data, ulen = comp, len(ch)
            hdr = len(data) | (ulen << 17) | ((1 if selfc else 0) << 34)
            hb = hdr.to_bytes(5, "little")
            out += hb + crc24(hdr, 5).to_bytes(3, "little")
        else:
            data = ch
            hdr = len(data) | ((1 if selfc else 0) << 17)
            out += hdr.to_bytes(3, "little") + crc24(hdr, 3).to_bytes(3, "little")
        out += data + zlib.crc32(data, CRC32_SEED).to_bytes(4, "little")
    return out

# ---------------------------------------------------------------------------------------------

OP = dict(ERROR=0x00, STARTUP=0x01, READY=0x02, AUTHENTICATE=0x03, OPTIONS=0x05, SUPPORTED=0x06,
          QUERY=0x07, RESULT=0x08, PREPARE=0x09, EXECUTE=0x0A, REGISTER=0x0B, EVENT=0x0C,
          BATCH=0x0D, AUTH_CHALLENGE=0x0E, AUTH_RESPONSE=0x0F, AUTH_SUCCESS=0x10)

PREPARED = {}              # id -> (query, bind columns, result columns); shared by all connections
PREPARED_LOCK = threading.Lock()
REGISTERED = []            # connections that sent REGISTER
REG_LOCK = threading.Lock()


class Conn:
    def __init__(self, sock, args):
        self.s, self.args = sock, args
        self.wlock = threading.Lock()
        self.version = None
        self.compression = None   # 'lz4' / 'snappy' once STARTUP asked for it
        self.compress_out = False
        self.segments_in = False
        self.segments_out = False
        self.buf = b""
        self.paging = {}
        self.authed = not args.auth
        self.keyspace = None
        self.local_ip = sock.getsockname()[0].replace("::ffff:", "")

    # -- reading
    def recv_some(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def need(self, n):
        while len(self.buf) < n:
            self.recv_some()

    def read_segment_payloads(self):
        """Read one segment; return its payload (decompressed)."""
        lz4seg = self.compression == "lz4"
        hl = 5 if lz4seg else 3
        self.need(hl + 3)
        hdr = int.from_bytes(self.buf[:hl], "little")
        crc = int.from_bytes(self.buf[hl:hl + 3], "little")
        if crc24(hdr, hl) != crc:
            raise ValueError("segment header CRC24 mismatch")
        plen = hdr & MAX_SEG
        ulen = (hdr >> 17) & MAX_SEG if lz4seg else 0
        total = hl + 3 + plen + 4
        self.need(total)
        data = self.buf[hl + 3:hl + 3 + plen]
        c32 = int.from_bytes(self.buf[hl + 3 + plen:total], "little")
        self.buf = self.buf[total:]
        if zlib.crc32(data, CRC32_SEED) != c32:
            raise ValueError("segment payload CRC32 mismatch")
        if lz4seg and ulen:
            data = lz4_block.decompress(data, uncompressed_size=ulen)
        return data

    def frames(self):
        """Yield (version, flags, stream, opcode, body) forever."""
        pending = b""
        while True:
            if self.segments_in:
                pending += self.read_segment_payloads()
                while len(pending) >= 9:
                    ln = struct.unpack(">I", pending[5:9])[0]
                    if len(pending) < 9 + ln:
                        break
                    fr, pending = pending[:9 + ln], pending[9 + ln:]
                    yield self.split(fr)
                continue
            self.need(9)
            ln = struct.unpack(">I", self.buf[5:9])[0]
            self.need(9 + ln)
            fr, self.buf = self.buf[:9 + ln], self.buf[9 + ln:]
            yield self.split(fr)

    def split(self, fr):
        ver, flags, stream, op, _ = struct.unpack(">BBhBI", fr[:9])
        body = fr[9:]
        if flags & 0x01 and body:
            body = self.decompress(body)
        return ver & 0x7F, flags, stream, op, body

    def decompress(self, body):
        if self.compression == "lz4":
            n = struct.unpack(">I", body[:4])[0]
            return lz4_block.decompress(body[4:], uncompressed_size=n)
        if self.compression == "snappy":
            return snappy.uncompress(body)
        raise ValueError("compressed frame without negotiated compression")

    # -- writing
    def send(self, stream, op, body, flags=0, version=None):
        ver = version or self.version or 4
        if self.compress_out and body and not self.segments_out:
            if self.compression == "lz4":
                body = struct.pack(">I", len(body)) + lz4_block.compress(body, store_size=False)
            else:
                body = snappy.compress(body)
            flags |= 0x01
        fr = struct.pack(">BBhBI", 0x80 | ver, flags, stream, op, len(body)) + body
        if self.segments_out:
            fr = encode_segments(fr, self.compression == "lz4")
        with self.wlock:
            self.s.sendall(fr)

    def send_error(self, stream, err, version=None):
        self.send(stream, OP["ERROR"], err.body(), version=version)

    # -- serving
    def serve(self):
        try:
            for ver, flags, stream, op, body in self.frames():
                self.handle(ver, flags, stream, op, body)
        except (EOFError, ConnectionError, OSError):
            pass
        except Exception as e:  # noqa: BLE001 - a bad frame ends the connection, like a server
            print("responder: connection error:", repr(e), flush=True)
        finally:
            with REG_LOCK:
                if self in REGISTERED:
                    REGISTERED.remove(self)
            try:
                self.s.close()
            except OSError:
                pass

    def handle(self, ver, flags, stream, op, body):
        if ver not in (3, 4, 5) or (ver == 5 and flags & 0x10 == 0 and False):
            # Unsupported version: a protocol error in the highest version we speak (as Cassandra).
            self.send_error(stream, CqlError(0x000A, "Invalid or unsupported protocol version (%d); "
                                             "supported versions are (3/v3, 4/v4, 5/v5)" % ver),
                            version=min(max(ver, 3), 5) if ver < 3 else 4)
            return
        if self.version is None:
            self.version = ver
        r = Reader(body)
        if flags & 0x04:           # custom payload on the request: read it past
            r.bytes_map()
        name = {v: k for k, v in OP.items()}.get(op, "?")
        if name == "OPTIONS":
            self.send(stream, OP["SUPPORTED"], string_multimap({
                "CQL_VERSION": ["3.4.5"], "COMPRESSION": ["lz4", "snappy"],
                "PROTOCOL_VERSIONS": ["3/v3", "4/v4", "5/v5"]}))
        elif name == "STARTUP":
            opts = r.string_map()
            comp = opts.get("COMPRESSION")
            if comp:
                self.compression = comp
            if self.version >= 5:
                self.segments_in = True
            if self.args.auth:
                self.send(stream, OP["AUTHENTICATE"], string("org.apache.cassandra.auth.PasswordAuthenticator"))
            else:
                self.send(stream, OP["READY"], b"")
            self.compress_out = bool(comp)
            if self.version >= 5:
                self.segments_out = True
        elif name == "AUTH_RESPONSE":
            tok = r.bytes() or b""
            parts = tok.split(b"\x00")
            if len(parts) == 3 and parts[1] == b"cassandra" and parts[2] == b"cassandra":
                self.authed = True
                self.send(stream, OP["AUTH_SUCCESS"], bytes_(None))
            else:
                self.send_error(stream, CqlError(0x0100, "Provided username %s and/or password are incorrect"
                                                 % parts[1].decode(errors="replace") if len(parts) > 1 else "?"))
        elif name == "REGISTER":
            r.string_list()
            with REG_LOCK:
                REGISTERED.append(self)
            self.send(stream, OP["READY"], b"")
        elif name in ("QUERY", "PREPARE", "EXECUTE", "BATCH"):
            if not self.authed:
                self.send_error(stream, CqlError(0x2100, "You have not logged in"))
                return
            self.dispatch(name, stream, flags, r)
        else:
            self.send_error(stream, CqlError(0x000A, "Unexpected message %s" % name))

    def params(self, r):
        p = {"consistency": r.short()}
        fl = r.int() if self.version >= 5 else r.byte()
        p["flags"] = fl
        vals = []
        if fl & 0x01:
            for _ in range(r.short()):
                if fl & 0x40:
                    r.string()
                vals.append(r.bytes())
        p["values"] = vals
        p["skip_metadata"] = bool(fl & 0x02)
        p["page_size"] = r.int() if fl & 0x04 else None
        p["paging_state"] = r.bytes() if fl & 0x08 else None
        if fl & 0x10: r.short()
        if fl & 0x20: r.long()
        if fl & 0x80: p["keyspace"] = r.string()
        if fl & 0x100: r.int()
        return p

    def dispatch(self, name, stream, flags, r):
        try:
            if name == "QUERY":
                q = r.long_string()
                p = self.params(r)
                res, warn = self.run_query(q, p, stream)
            elif name == "PREPARE":
                q = r.long_string()
                ks = None
                if self.version >= 5:
                    pf = r.int()
                    if pf & 1:
                        ks = r.string()
                res, warn = self.prepare(q, ks), []
            elif name == "EXECUTE":
                pid = r.short_bytes()
                if self.version >= 5:
                    r.short_bytes()
                p = self.params(r)
                with PREPARED_LOCK:
                    ent = PREPARED.get(pid)
                if ent is None:
                    raise CqlError(0x2500, "Prepared query with ID %s not found" % pid.hex(), short_bytes(pid))
                res, warn = self.run_query(ent[0], p, stream, bound=True)
            else:  # BATCH
                btype = r.byte()
                n = r.short()
                qs = []
                for _ in range(n):
                    kind = r.byte()
                    if kind == 0:
                        qs.append(r.long_string())
                    else:
                        pid = r.short_bytes()
                        with PREPARED_LOCK:
                            ent = PREPARED.get(pid)
                        if ent is None:
                            raise CqlError(0x2500, "Prepared query with ID %s not found" % pid.hex(), short_bytes(pid))
                        qs.append(ent[0])
                    for _ in range(r.short()):
                        r.bytes()
                r.short()
                for q in qs:
                    e = error_for(q, self.version)
                    if e:
                        raise e
                res, warn = void_result(), (["Unlogged batch covering 2 partitions detected"] if btype == 1 else [])
        except CqlError as e:
            self.reply(stream, OP["ERROR"], e.body(), flags, [], delay=self.delay_of(locals().get("q", "")))
            return
        self.reply(stream, OP["RESULT"], res, flags, warn, delay=self.delay_of(locals().get("q", "")))

    @staticmethod
    def delay_of(q):
        i = q.find("/* delay=")
        if i < 0:
            return 0
        try:
            return int(q[i + 9:q.index("*/", i)].strip()) / 1000.0
        except ValueError:
            return 0

    def reply(self, stream, op, body, req_flags, warnings, delay=0):
        flags = 0
        pre = b""
        if req_flags & 0x02:                     # tracing asked: a tracing id first
            flags |= 0x02
            pre += uuid.uuid5(uuid.NAMESPACE_OID, "trace-%d" % stream).bytes
        if warnings and self.version >= 4:
            flags |= 0x08
            pre += string_list(warnings)
        if delay:
            t = threading.Timer(delay, self.send, (stream, op, pre + body, flags))
            t.daemon = True
            t.start()
        else:
            self.send(stream, op, pre + body, flags)

    def prepare(self, q, keyspace=None):
        # as Cassandra: MD5 of the client's keyspace (if any) followed by the text
        pid = hashlib.md5(((keyspace or self.keyspace or "") + q).encode()).digest()
        ql = q.lower()
        binds = [("id", T_INT)] if "?" in q else []
        if ql.startswith("insert"):
            binds = [("id", T_INT), ("name", T_TEXT)][:q.count("?")]
        result_cols = USERS_COLS if ql.startswith("select") else []
        with PREPARED_LOCK:
            PREPARED[pid] = (q, binds, result_cols)
        out = int_(4) + short_bytes(pid)
        if self.version >= 5:
            out += short_bytes(hashlib.md5(b"meta" + q.encode()).digest())
        # prepared metadata: flags, columns_count, pk_count (v4+) and pk indices, specs
        flags = 0x0001 if binds else 0
        out += int_(flags) + int_(len(binds))
        if self.version >= 4:
            out += int_(1 if binds else 0) + (short(0) if binds else b"")
        if binds:
            out += col_specs("shop", "users", binds)
        # result metadata
        if result_cols:
            out += int_(0x0001) + int_(len(result_cols)) + col_specs("shop", "users", result_cols)
        else:
            out += int_(0x0004) + int_(0)
        return out

    def run_query(self, q, p, stream, bound=False):
        ql = " ".join(q.lower().split())
        if "clear prepared cache" in ql:
            with PREPARED_LOCK:
                PREPARED.clear()
            return void_result(), []
        if "push events" in ql:
            threading.Timer(0.05, push_events, (self.local_ip,)).start()
            return void_result(), []
        e = error_for(q, self.version)
        if e:
            raise e
        warn = ["Aggregation query used without partition key"] if "count(" in ql else []
        if "system.local" in ql:
            cols, rows = local_cols_and_row(self.local_ip)
            return rows_result("system", "local", cols, rows), []
        if "system.peers_v2" in ql:
            return rows_result("system", "peers_v2", PEERS_V2_COLS, []), []
        if "system.peers" in ql:
            return rows_result("system", "peers", PEERS_COLS, []), []
        if "from system" in ql:
            return rows_result("system", "x", [("k", T_TEXT)], []), []
        if ql.startswith("use "):
            self.keyspace = q.split()[1].strip('";')
            return set_keyspace_result(self.keyspace), []
        if ql.startswith("create keyspace"):
            return int_(5) + schema_change_body("CREATED", "KEYSPACE", "shop"), []
        if ql.startswith("create table"):
            return int_(5) + schema_change_body("CREATED", "TABLE", "shop", "users"), []
        if ql.startswith("create type"):
            return int_(5) + schema_change_body("CREATED", "TYPE", "shop", "address"), []
        if ql.startswith("create function"):
            return int_(5) + schema_change_body("CREATED", "FUNCTION", "shop", "boom", ["int"]), []
        if ql.startswith("drop table"):
            return int_(5) + schema_change_body("DROPPED", "TABLE", "shop", "old"), []
        if ql.startswith(("insert", "update", "delete", "truncate")):
            return void_result(), warn
        if ql.startswith("select"):
            if "count(" in ql:
                return rows_result("shop", "users", [("count", (BIGINT,))], [[len(USERS)]]), warn
            rows = USERS
            if "big_result" in ql:          # ~300 KB of rows: a reply frame spanning v5 segments
                rows = [user_row(i) for i in range(1, 3001)]
            if "where id" in ql and bound:
                rows = USERS[:1]
            elif "where id" in ql:
                rows = USERS[1:2]
            if "limit 0" in ql:
                rows = []
            start = 0
            if p.get("paging_state"):
                start = int(p["paging_state"].decode())
            ps = p.get("page_size")
            more = None
            if ps and ps > 0 and len(rows) - start > ps:
                more = str(start + ps).encode()
                page = rows[start:start + ps]
            else:
                page = rows[start:]
            return rows_result("shop", "users", USERS_COLS, page, more, p.get("skip_metadata", False)), warn
        return void_result(), warn


def push_events(addr):
    with REG_LOCK:
        conns = list(REGISTERED)
    for c in conns:
        v = c.version or 4
        try:
            c.send(-1, OP["EVENT"], string("SCHEMA_CHANGE") +
                   schema_change_body("CREATED", "TABLE", "shop", "events_demo"), version=v)
            c.send(-1, OP["EVENT"], string("STATUS_CHANGE") + string("UP") + inet(addr, 9042), version=v)
            c.send(-1, OP["EVENT"], string("TOPOLOGY_CHANGE") + string("NEW_NODE") + inet("10.77.0.9", 9042),
                   version=v)
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=9042)
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--auth", action="store_true")
    args = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.host, args.port))
    s.listen(64)
    print("responder listening on %s:%d auth=%s" % (args.host, args.port, args.auth), flush=True)
    while True:
        c, _ = s.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=Conn(c, args).serve, daemon=True).start()


if __name__ == "__main__":
    main()
