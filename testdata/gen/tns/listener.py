#!/usr/bin/env python3
"""A small Oracle listener + server written for wiresift's TNS captures.

It speaks enough of TNS/TTC, as the python-oracledb thin client parses it (oracledb 3.x/26.x,
`src/oracledb/impl/thin/messages/*.pyx`), for that client (and node-oracledb thin, which has
the same layouts) to connect, log in and run statements against a scripted "database":

- connect phase: ACCEPT at --version (315..319), REFUSE (ERR=12514) for an unknown service,
  REDIRECT for service `redir` (to the same listener, service `svc`), RESEND of the first
  CONNECT for service `resend`;
- OOB check (version >= 318): the urgent byte and the client's RESET marker are read and
  ignored;
- PROTOCOL / DATA_TYPES replies with the TTC field version --field-version;
- AUTH with the 11g verifier (0xb152): the server's session key, the combined key, the
  password check (ORA-01017 on a wrong password) and AUTH_SVR_RESPONSE, as the client checks it;
- EXECUTE (OALL8), REEXECUTE / REEXECUTE_AND_FETCH, FETCH, COMMIT, ROLLBACK, PING, LOGOFF;
  queries of `t_rows` return VARCHAR2 rows over several fetch round trips; `missing_table`
  gives ORA-00942 and `nosuchcol` ORA-00904, both through the BREAK/RESET marker exchange;
  DML reports as many rows as executions; PL/SQL blocks succeed.

Nothing here is a real database. Secrets: the password is a test value given on the command
line; the capture's AUTH_PASSWORD / AUTH_SESSKEY are encrypted with it.
"""

import argparse
import hashlib
import os
import socket
import struct
import threading

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PKT_CONNECT, PKT_ACCEPT, PKT_REFUSE, PKT_REDIRECT, PKT_DATA = 1, 2, 4, 5, 6
PKT_RESEND, PKT_MARKER = 11, 12
MSG_PROTOCOL, MSG_DATA_TYPES, MSG_FUNCTION, MSG_ERROR = 1, 2, 3, 4
MSG_ROW_HEADER, MSG_ROW_DATA, MSG_PARAMETER, MSG_STATUS = 6, 7, 8, 9
MSG_DESCRIBE, MSG_PIGGYBACK, MSG_END_OF_RESPONSE = 16, 17, 29
F_REEXECUTE, F_FETCH, F_LOGOFF, F_COMMIT, F_ROLLBACK = 4, 5, 9, 14, 15
F_REEXECUTE_AND_FETCH, F_EXECUTE, F_CLOSE_CURSORS = 78, 94, 105
F_AUTH2, F_AUTH1, F_PING = 115, 118, 147
VERIFIER_11G = 0xB152
ROWS = 250  # rows of t_rows


# ---------------------------------------------------------------------------- encoding
def ub(v):
    """Compressed unsigned integer (length byte, big-endian bytes)."""
    if v == 0:
        return b"\x00"
    b = v.to_bytes((v.bit_length() + 7) // 8, "big")
    return bytes([len(b)]) + b


def sb(v):
    if v >= 0:
        return ub(v)
    b = (-v).to_bytes(((-v).bit_length() + 7) // 8, "big")
    return bytes([len(b) | 0x80]) + b


def blen(b):
    """Bytes with their length (one byte, or 0xFE and ub4-length chunks)."""
    if len(b) <= 252:
        return bytes([len(b)]) + b
    out = b"\xfe"
    for i in range(0, len(b), 32767):
        c = b[i:i + 32767]
        out += ub(len(c)) + c
    return out + ub(0)


def swl(s):
    """A string with a ub4 length and then the length-prefixed bytes."""
    if s is None or s == "":
        return ub(0)
    b = s.encode() if isinstance(s, str) else s
    return ub(len(b)) + blen(b)


class Reader:
    def __init__(self, d, pos=0):
        self.d, self.pos = d, pos

    def u1(self):
        v = self.d[self.pos]
        self.pos += 1
        return v

    def un(self):
        n = self.u1() & 0x7F
        v = int.from_bytes(self.d[self.pos:self.pos + n], "big")
        self.pos += n
        return v

    def raw(self, n):
        v = self.d[self.pos:self.pos + n]
        self.pos += n
        return v

    def blen(self):
        n = self.u1()
        if n == 0 or n == 0xFF:
            return b""
        if n != 0xFE:
            return self.raw(n)
        out = b""
        while True:
            c = self.un()
            if c == 0:
                return out
            out += self.raw(c)

    def two_lengths(self):
        n = self.un()
        return self.blen() if n > 0 else b""


# ---------------------------------------------------------------------------- crypto
def aes_cbc(key, data, encrypt=True, pad=True):
    if encrypt and pad:
        n = 16 - len(data) % 16
        data += bytes([n]) * n
    c = Cipher(algorithms.AES(key), modes.CBC(bytes(16)))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


class Auth:
    """The 11g verifier exchange, server side."""

    def __init__(self, password):
        self.password = password.encode()
        self.salt = os.urandom(10)
        self.pw_hash = hashlib.sha1(self.password + self.salt).digest() + bytes(4)
        self.part_a = os.urandom(48)
        self.key = None

    def server_sesskey(self):
        return aes_cbc(self.pw_hash, self.part_a, pad=False).hex().upper()

    def check(self, client_sesskey_hex, password_hex):
        enc = bytes.fromhex(client_sesskey_hex)[:48]
        part_b = aes_cbc(self.pw_hash, enc, encrypt=False)
        b = bytes(self.part_a[i] ^ part_b[i] for i in range(16, 40))
        self.key = (hashlib.md5(b[:16]).digest() + hashlib.md5(b[16:]).digest())[:24]
        plain = aes_cbc(self.key, bytes.fromhex(password_hex), encrypt=False)
        pw = plain[16:]
        if pw and pw[-1] <= 16 and pw.endswith(bytes([pw[-1]]) * pw[-1]):
            pw = pw[:-pw[-1]]
        return pw == self.password

    def svr_response(self):
        return aes_cbc(self.key, os.urandom(16) + b"SERVER_TO_CLIENT").hex().upper()


# ---------------------------------------------------------------------------- connection
class Conn:
    def __init__(self, sock, args, first_connect_seen):
        self.s, self.args = sock, args
        self.w32 = False
        self.sdu = 8192
        self.fv = args.field_version
        self.eor = False
        self.cursors = {}  # cursor id -> [sql, next row]
        self.next_cursor = 1
        self.auth = None
        self.first_connect_seen = first_connect_seen

    # --- packets
    def recvn(self, n):
        out = b""
        while len(out) < n:
            c = self.s.recv(n - len(out))
            if not c:
                raise EOFError
            out += c
        return out

    def recv_packet(self):
        h = self.recvn(8)
        n = struct.unpack(">I", h[:4])[0] if self.w32 else struct.unpack(">H", h[:2])[0]
        return h[4], h[5], self.recvn(n - 8)

    def send_packet(self, t, body, flags=0):
        n = 8 + len(body)
        if self.w32:
            h = struct.pack(">IBBH", n, t, flags, 0)
        else:
            h = struct.pack(">HHBBH", n, 0, t, flags, 0)
        self.s.sendall(h + body)

    def send_data(self, payload, end=True):
        room = self.sdu - 10
        chunks = [payload[i:i + room] for i in range(0, len(payload), room)] or [b""]
        for i, c in enumerate(chunks):
            flags = 0x2000 if (self.eor and end and i == len(chunks) - 1) else 0
            self.send_packet(PKT_DATA, struct.pack(">H", flags) + c)

    def recv_request(self):
        """One client request: DATA payloads up to a packet shorter than the SDU. Markers
        (the OOB check's RESET, resets) are skipped."""
        data = b""
        while True:
            t, _f, body = self.recv_packet()
            if t == PKT_MARKER:
                continue
            if t != PKT_DATA:
                raise EOFError
            data += body[2:]
            if 8 + len(body) < self.sdu:
                return data

    # --- connect phase
    def connect_phase(self):
        while True:
            t, _f, body = self.recv_packet()
            if t != PKT_CONNECT:
                raise EOFError
            cd_len, cd_off = struct.unpack(">HH", body[16:20])
            cd = body[cd_off - 8:cd_off - 8 + cd_len]
            if cd_len and len(cd) < cd_len:
                _t, _f, more = self.recv_packet()
                cd = more[2:]
            text = cd.decode(errors="replace").upper()
            svc = ""
            if "SERVICE_NAME=" in text:
                svc = text.split("SERVICE_NAME=", 1)[1].split(")", 1)[0]
            if svc == "RESEND" and not self.first_connect_seen[0]:
                self.first_connect_seen[0] = True
                self.send_packet(PKT_RESEND, b"")
                continue
            dispatcher = self.s.getsockname()[1] == self.args.redirect_port
            if svc == "REDIR" and not dispatcher:
                # To the "dispatcher" port, which accepts any service (the client sends its
                # original connect data again there).
                host, port = self.s.getsockname()[0], self.args.redirect_port
                addr = f"(ADDRESS=(PROTOCOL=tcp)(HOST={host})(PORT={port}))"
                target = cd.decode().replace("redir", "svc").replace("REDIR", "svc")
                data = (addr + "\0" + target).encode()
                # The length in the REDIRECT packet, the address in the DATA packet after it
                # (the client waits for that packet).
                self.send_packet(PKT_REDIRECT, struct.pack(">H", len(data)))
                self.send_packet(PKT_DATA, b"\x00\x00" + data)
                raise EOFError
            if svc not in ("SVC", "RESEND", "XE") and not dispatcher:
                msg = b"(DESCRIPTION=(TMP=)(VSNNUM=0)(ERR=12514)(ERROR_STACK=(ERROR=(CODE=12514)(EMFI=4))))"
                self.send_packet(PKT_REFUSE, b"\x22\x00" + struct.pack(">H", len(msg)) + msg)
                raise EOFError
            v = self.args.version
            sdu = struct.unpack(">I", body[50:54])[0] if len(body) >= 54 else 8192
            self.sdu = min(sdu or 8192, self.args.sdu)
            flags2 = 0
            if v >= 318:
                flags2 |= 0x1  # check OOB
            if v >= 319 and self.args.eor:
                flags2 |= 0x02000000
                self.eor = True
            # flags 0 and 1: 0x08 in flags 1 = no NA services linked (node-oracledb then skips ANO).
            acc = struct.pack(">HHHHHHHBB", v, 0x0401, 0, 0, 1, 0, 45, 0x41, 0x09)
            acc += bytes(8) + struct.pack(">II", self.sdu, self.sdu)
            acc += bytes(1) + struct.pack(">I", flags2)  # flags 2 at offset 41
            self.send_packet(PKT_ACCEPT, acc)
            self.w32 = v >= 315
            return

    # --- replies
    def error_msg(self, num=0, rows=0, cursor=0, msg=None, status=0):
        b = bytes([MSG_ERROR]) + ub(status) + ub(0) + ub(rows) + ub(num) + ub(0) + ub(0)
        b += ub(cursor) + sb(0) + bytes(6)
        b += ub(0) + ub(0) + b"\x00" + ub(0) + ub(0)  # rowid
        b += ub(0) + b"\x00\x00" + ub(0) + ub(0)      # os error, stmt#, call#, padding, iters
        b += ub(0)                                      # oerrdd
        b += ub(0) + ub(0) + ub(0)                      # batch errors, offsets, messages
        b += ub(num) + ub(rows)                         # extended error number, row count
        if self.fv >= 14:
            b += ub(0) + ub(0)
        if num:
            b += blen(msg.encode())
        return b

    def end(self):
        return bytes([MSG_END_OF_RESPONSE]) if self.eor else b""

    def reply(self, payload):
        self.send_data(payload + self.end())

    def reply_error_via_marker(self, payload):
        self.send_packet(PKT_MARKER, b"\x01\x00\x01")  # BREAK
        while True:  # the client answers with RESET
            t, _f, body = self.recv_packet()
            if t == PKT_MARKER and body[2:3] == b"\x02":
                break
        self.send_packet(PKT_MARKER, b"\x01\x00\x02")  # RESET
        self.reply(payload)

    def params(self, pairs):
        b = bytes([MSG_PARAMETER]) + ub(len(pairs))
        for k, v, flags in pairs:
            b += swl(k) + swl(v) + ub(flags)
        return b

    # --- calls
    def call_header(self, d):
        """Skip piggybacks; return (function code, reader after seq [and token])."""
        r = Reader(d)
        while True:
            t = r.u1()
            f = r.u1()
            r.u1()  # seq
            if self.fv >= 18:
                r.un()  # token
            if t == MSG_PIGGYBACK and f == F_CLOSE_CURSORS:
                r.u1()
                for _ in range(r.un()):
                    cid = r.un()
                    self.cursors.pop(cid, None)
                continue
            if t == MSG_PIGGYBACK and f == 135:  # set end-to-end attributes
                r.u1(); r.u1(); r.un()
                lens = []
                for i in range(10):
                    if i in (4,):  # cidcct (ub1) and cidecs (ub4) after cideci
                        r.u1(); r.un()
                    ptr = r.u1(); n = r.un()
                    lens.append((ptr, n))
                    if len(lens) == 8:
                        break
                for ptr, n in (lens[0], lens[1], lens[2], lens[4], lens[7]):
                    if ptr and n:
                        r.blen()
                continue
            if t == MSG_PIGGYBACK:
                raise ValueError(f"piggyback {f} not supported")
            return t, f, r

    def serve(self):
        self.connect_phase()
        while True:
            d = self.recv_request()
            if not d:
                continue
            t = d[0]
            if t == MSG_PROTOCOL:
                caps = bytearray(55)
                caps[7] = self.fv
                caps[40] = 0x20 if self.eor else 0
                rcaps = bytearray(13)
                rcaps[0], rcaps[6] = 2, 0x04
                fdo = bytes(9) + b"\x07\xd0"
                b = bytes([MSG_PROTOCOL, 6, 0]) + b"wiresift-test-listener\x00"
                b += struct.pack("<HBH", 873, 0, 0) + struct.pack(">H", len(fdo)) + fdo
                b += blen(bytes(caps)) + blen(bytes(rcaps))
                self.send_data(b)
            elif t == MSG_DATA_TYPES:
                self.send_data(bytes([MSG_DATA_TYPES]) + b"\x00\x00")
            elif t in (MSG_FUNCTION, MSG_PIGGYBACK):
                _t, f, r = self.call_header(d)
                if not self.function(f, r, d):
                    return
            else:
                return

    def function(self, f, r, d):
        if f == F_AUTH1:
            self.auth = Auth(self.args.password)
            pairs = [
                ("AUTH_SESSKEY", self.auth.server_sesskey(), 1),
                ("AUTH_VFR_DATA", self.auth.salt.hex().upper(), VERIFIER_11G),
                ("AUTH_GLOBALLY_UNIQUE_DBID", "A1B2C3D4", 0),
            ]
            self.reply(self.params(pairs) + self.error_msg())
        elif f == F_AUTH2:
            r.u1(); r.un(); r.un(); r.u1(); n = r.un(); r.u1(); r.u1()
            r.blen()  # user
            kv = {}
            for _ in range(n):
                k = r.two_lengths().decode()
                v = r.two_lengths().decode(errors="replace")
                r.un()
                kv[k] = v
            ok = self.auth.check(kv.get("AUTH_SESSKEY", "00" * 48), kv.get("AUTH_PASSWORD", "00" * 32))
            if not ok:
                self.reply(self.error_msg(1017, msg="ORA-01017: invalid username/password; logon denied"))
                return True
            pairs = [
                ("AUTH_SVR_RESPONSE", self.auth.svr_response(), 0),
                ("AUTH_VERSION_NO", str(19 << 24), 0),
                ("AUTH_SESSION_ID", "77", 0),
                ("AUTH_SERIAL_NUM", "4242", 0),
                ("AUTH_INSTANCENAME", "wiresift", 0),
                ("AUTH_SC_SERVICE_NAME", "svc", 0),
            ]
            self.reply(self.params(pairs) + self.error_msg())
        elif f == F_EXECUTE:
            self.execute(r)
        elif f in (F_REEXECUTE, F_REEXECUTE_AND_FETCH):
            cid = r.un()
            iters = r.un()
            c = self.cursors.get(cid)
            if c is None:
                self.reply_error_via_marker(self.error_msg(1001, msg="ORA-01001: invalid cursor"))
            elif f == F_REEXECUTE_AND_FETCH:
                c[1] = 0
                self.rows(cid, c, iters, first=True)
            else:
                self.reply(self.error_msg(0, rows=iters, cursor=cid))
        elif f == F_FETCH:
            cid = r.un()
            n = r.un()
            c = self.cursors.get(cid)
            if c is None:
                self.reply_error_via_marker(self.error_msg(1001, msg="ORA-01001: invalid cursor"))
            else:
                self.rows(cid, c, n, first=False)
        elif f in (F_COMMIT, F_ROLLBACK, F_PING):
            self.reply(bytes([MSG_STATUS]) + ub(0) + ub(0))
        elif f == F_LOGOFF:
            self.reply(bytes([MSG_STATUS]) + ub(0) + ub(0))
            return False
        else:
            self.reply_error_via_marker(self.error_msg(3115, msg="ORA-03115: unsupported network datatype or representation"))
        return True

    def execute(self, r):
        _options = r.un()
        cid = r.un()
        r.u1(); sql_len = r.un()
        r.u1(); r.un()                 # al8i4 pointer + length
        r.u1(); r.u1()                 # al8o4, al8o4l
        r.un(); prefetch = r.un(); r.un()
        r.u1(); nbinds = r.un()
        r.u1(); r.u1(); r.u1(); r.u1(); r.u1()
        r.u1(); r.un()                 # defines
        r.un()                         # registration id lsb
        r.u1(); r.u1(); r.u1(); r.un(); r.u1(); r.un(); r.un()
        r.u1(); r.un(); r.u1()
        if self.fv >= 8:
            r.u1(); r.un(); r.u1(); r.un(); r.u1()
            if self.fv >= 9:
                r.u1(); r.un()
        sql = ""
        if cid == 0 or sql_len:
            sql = r.blen().decode()
        r.un()
        execs = r.un()
        if cid == 0:
            cid = self.next_cursor
            self.next_cursor += 1
            self.cursors[cid] = [sql, 0]
        c = self.cursors.setdefault(cid, [sql, 0])
        sql = c[0]
        low = sql.lower()
        if "missing_table" in low:
            self.reply_error_via_marker(self.error_msg(942, cursor=cid, msg="ORA-00942: table or view does not exist"))
        elif "nosuchcol" in low:
            self.reply_error_via_marker(self.error_msg(904, cursor=cid, msg='ORA-00904: "NOSUCHCOL": invalid identifier'))
        elif low.lstrip().startswith(("select", "with")):
            c[1] = 0
            self.rows(cid, c, prefetch, first=True)
        elif low.lstrip().startswith(("begin", "declare", "call")):
            self.reply(self.error_msg(0, cursor=cid))
        else:
            self.reply(self.error_msg(0, rows=max(execs, 1) if nbinds or execs else 0, cursor=cid))

    def describe(self, cols, size=100):
        b = bytes([MSG_DESCRIBE]) + b"\x00" + ub(100) + ub(len(cols)) + b"\x00"
        for i, name in enumerate(cols):
            b += bytes([1, 0]) + b"\x00\x00" + ub(size) + ub(0) + ub(0) + ub(0)
            b += ub(0) + ub(873) + b"\x01" + ub(size)
            if self.fv >= 8:
                b += ub(0)
            b += b"\x01\x00" + swl(name) + swl("") + swl("") + ub(i + 1) + ub(0)
            if self.fv >= 17:
                b += swl("") + swl("")
            if self.fv >= 20:
                b += ub(0)
            if self.fv >= 24:
                b += ub(0) + b"\x00\x00"
        b += ub(0) + ub(0) + ub(0) + ub(0) + ub(0) + ub(0)
        return b

    def padded(self, cid, target):
        """A query reply sent as ONE DATA packet of exactly `target` bytes (t_pad: 65536,
        t_pad2: 131072): a 32-bit length whose low half is 0x0000, which tshark reads as a
        16-bit length (it picks the width per packet from bytes 2-3)."""
        head = b""
        tail = self.error_msg(1403, rows=0, cursor=cid, msg="ORA-01403: no data found") + self.end()
        def row(v):
            return (bytes([MSG_ROW_HEADER]) + b"\x00" + ub(0) + ub(0) + ub(1) + ub(0) + ub(0) + ub(0)
                    + bytes([MSG_ROW_DATA]) + blen(b"p" * v))
        body = head
        nrows = 0
        # Full rows while the room left stays enough for one more short row (11..262 bytes).
        while target - (10 + len(body) + len(tail)) - len(row(200)) >= 40:
            body += row(200)
            nrows += 1
        for v in range(1, 253):
            last = row(v)
            tail = self.error_msg(1403, rows=nrows + 1, cursor=cid, msg="ORA-01403: no data found") + self.end()
            if 10 + len(body) + len(last) + len(tail) == target:
                payload = body + last + tail
                self.send_packet(PKT_DATA, b"\x00\x00" + payload)
                return
        raise ValueError("no exact fit")

    def rows(self, cid, c, n, first):
        sql = c[0].lower()
        if "t_pad" in sql:
            # The execute returns the describe only; the FETCH that follows gets the padded
            # packet (its rows must fit the fetch array size).
            if first:
                self.reply(self.describe(["V"], 4000) + self.error_msg(0, cursor=cid))
            else:
                self.padded(cid, 131072 if "t_pad2" in sql else 65536)
            return
        total = ROWS if "t_rows" in sql else 1
        cols = ["ID", "NAME"] if "t_rows" in sql else ["DUMMY"]
        b = self.describe(cols) if first else b""
        start = c[1]
        end = min(total, start + n)
        for i in range(start, end):
            b += bytes([MSG_ROW_HEADER]) + b"\x00" + ub(0) + ub(0) + ub(1) + ub(0) + ub(0) + ub(0)
            vals = [str(i + 1), f"row-{i + 1:04d}"] if len(cols) == 2 else ["X"]
            b += bytes([MSG_ROW_DATA]) + b"".join(blen(v.encode()) for v in vals)
        c[1] = end
        if end >= total and (n == 0 or end - start < n):
            b += self.error_msg(1403, rows=end, cursor=cid, msg="ORA-01403: no data found")
        else:
            b += self.error_msg(0, rows=end, cursor=cid)
        self.reply(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=1521)
    ap.add_argument("--version", type=int, default=319)
    ap.add_argument("--field-version", type=int, default=13)
    ap.add_argument("--sdu", type=int, default=8192)
    ap.add_argument("--eor", action="store_true", help="announce end-of-response (319)")
    ap.add_argument("--password", default="tiger-test-pw")
    ap.add_argument("--redirect-port", type=int, default=1522)
    args = ap.parse_args()
    first_connect_seen = [False]

    def run(s):
        try:
            Conn(s, args, first_connect_seen).serve()
        except (EOFError, ConnectionError, ValueError, IndexError):
            pass
        finally:
            s.close()

    def listen(port):
        ls = socket.create_server((args.host, port), reuse_port=False)
        while True:
            s, _ = ls.accept()
            threading.Thread(target=run, args=(s,), daemon=True).start()

    threading.Thread(target=listen, args=(args.redirect_port,), daemon=True).start()
    listen(args.port)


if __name__ == "__main__":
    main()
