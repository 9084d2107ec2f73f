#!/usr/bin/env python3
"""Raw CQL v4 load client for testdata/gen/cql-large.sh (the drivers are too slow to make a
large capture quickly): each connection does OPTIONS, STARTUP (optionally lz4), USE, PREPARE,
then rounds of IN_FLIGHT concurrent requests on distinct stream ids (QUERY by id, EXECUTE of
the prepared SELECT, INSERT; 1 % carry /* delay=2 */ so some replies come back out of order),
reading all replies of a round before the next.

Usage: load.py HOST PORT CONNECTIONS REQUESTS_PER_CONNECTION [lz4]
"""
import socket
import struct
import sys
import threading

try:
    import lz4.block as lz4_block
except ImportError:
    lz4_block = None

IN_FLIGHT = 64


def frame(stream, op, body, compress):
    flags = 0
    if compress and body:
        body = struct.pack(">I", len(body)) + lz4_block.compress(body, store_size=False)
        flags = 1
    return struct.pack(">BBhBI", 4, flags, stream, op, len(body)) + body


def long_string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def params(values=()):
    flags = 0x04 | (0x01 if values else 0)
    out = struct.pack(">HB", 1, flags)
    if values:
        out += struct.pack(">H", len(values)) + b"".join(struct.pack(">i", len(v)) + v for v in values)
    return out + struct.pack(">i", 100)


class Conn:
    def __init__(self, host, port, compress):
        self.s = socket.create_connection((host, port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.compress = False
        self.call(0, 0x05, b"")
        opts = {"CQL_VERSION": "3.0.0"}
        if compress:
            opts["COMPRESSION"] = "lz4"
        body = struct.pack(">H", len(opts)) + b"".join(
            struct.pack(">H", len(k)) + k.encode() + struct.pack(">H", len(v)) + v.encode() for k, v in opts.items())
        self.call(1, 0x01, body)
        self.compress = compress
        self.call(2, 0x07, long_string("USE shop") + params())
        r = self.call(3, 0x09, long_string("SELECT * FROM shop.users WHERE id = ?"))
        n = struct.unpack(">H", r[4:6])[0]
        self.pid = r[6:6 + n]

    def read_frame(self):
        while True:
            if len(self.buf) >= 9:
                ln = struct.unpack(">I", self.buf[5:9])[0]
                if len(self.buf) >= 9 + ln:
                    f, self.buf = self.buf[:9 + ln], self.buf[9 + ln:]
                    body = f[9:]
                    if f[1] & 1:
                        n = struct.unpack(">I", body[:4])[0]
                        body = lz4_block.decompress(body[4:], uncompressed_size=n)
                    return struct.unpack(">h", f[2:4])[0], body
            d = self.s.recv(1 << 16)
            if not d:
                raise EOFError
            self.buf += d

    def call(self, stream, op, body):
        self.s.sendall(frame(stream, op, body, self.compress))
        return self.read_frame()[1]

    def run(self, n, base):
        done = 0
        while done < n:
            k = min(IN_FLIGHT, n - done)
            out = b""
            for j in range(k):
                i = base + done + j
                kind = i % 3
                delay = " /* delay=2 */" if i % 100 == 7 else ""
                if kind == 0:
                    out += frame(j, 0x07, long_string("SELECT * FROM shop.users WHERE id = %d%s" % (i % 25, delay)) + params(), self.compress)
                elif kind == 1:
                    out += frame(j, 0x0A, struct.pack(">H", len(self.pid)) + self.pid + params([struct.pack(">i", i % 25)]), self.compress)
                else:
                    out += frame(j, 0x07, long_string("INSERT INTO shop.users (id, name) VALUES (%d, 'n%d')%s" % (i, i, delay)) + params(), self.compress)
            self.s.sendall(out)
            for _ in range(k):
                self.read_frame()
            done += k
        self.s.close()


def main():
    host, port, conns, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    compress = len(sys.argv) > 5 and sys.argv[5] == "lz4"
    ts = []
    for c in range(conns):
        cn = Conn(host, port, compress)
        t = threading.Thread(target=cn.run, args=(per, c * per))
        t.start()
        ts.append(t)
    for t in ts:
        t.join()
    print("load done: %d connections x %d requests" % (conns, per), flush=True)


main()
