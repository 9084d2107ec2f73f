#!/usr/bin/env python3
"""Capture client for testdata/gen/tunnel.sh: the same Redis and SMTP sessions, directly or
through a proxy (HTTP CONNECT, SOCKS4, SOCKS4a, SOCKS5 with or without user/password).

The proxy handshake is done here by hand on a plain socket, then the socket is handed to the
real client libraries (redis-py through a Connection subclass, smtplib through _get_socket), so
what runs inside the tunnel is byte for byte what runs on a direct connection.

usage: client.py resp|smtp TARGET_HOST TARGET_PORT --via direct|http|socks4|socks4a|socks5
                 [--proxy HOST:PORT] [--user U --password P] [--expect-fail]
"""

import argparse
import base64
import smtplib
import socket
import struct
import sys

import redis


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise OSError("proxy closed the connection")
        b += c
    return b


def open_via(a):
    """A socket connected to the target, through the proxy if any."""
    if a.via == "direct":
        return socket.create_connection((a.host, a.port), timeout=20)
    ph, pp = a.proxy.rsplit(":", 1)
    s = socket.create_connection((ph, int(pp)), timeout=20)
    if a.via == "http":
        target = f"{a.host}:{a.port}"
        head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
        if a.user:
            cred = base64.b64encode(f"{a.user}:{a.password}".encode()).decode()
            head += f"Proxy-Authorization: Basic {cred}\r\n"
        s.sendall((head + "\r\n").encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            c = s.recv(1)
            if not c:
                raise OSError("proxy closed the connection")
            reply += c
        code = int(reply.split(b" ", 2)[1])
        if code != 200:
            raise OSError(f"proxy refused: {reply.splitlines()[0]!r}")
        return s
    if a.via in ("socks4", "socks4a"):
        if a.via == "socks4":
            req = struct.pack(">BBH", 4, 1, a.port) + socket.inet_aton(a.host) + b"wstu\0"
        else:
            req = struct.pack(">BBH", 4, 1, a.port) + bytes([0, 0, 0, 1]) + b"wstu\0"
            req += a.host.encode() + b"\0"
        s.sendall(req)
        rep = recv_exact(s, 8)
        if rep[1] != 90:
            raise OSError(f"socks4 refused: {rep[1]}")
        return s
    # SOCKS5
    methods = [0, 2] if a.user else [0]
    s.sendall(bytes([5, len(methods)] + methods))
    ver, m = recv_exact(s, 2)
    if m == 2:
        u, p = a.user.encode(), a.password.encode()
        s.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
        _, st = recv_exact(s, 2)
        if st != 0:
            raise OSError(f"socks5 authentication failed: {st}")
    elif m != 0:
        raise OSError(f"socks5 method {m}")
    s.sendall(struct.pack(">BBBB", 5, 1, 0, 1) + socket.inet_aton(a.host) + struct.pack(">H", a.port))
    rep = recv_exact(s, 4)
    if rep[1] != 0:
        raise OSError(f"socks5 refused: {rep[1]}")
    atyp = rep[3]
    recv_exact(s, {1: 4, 4: 16}.get(atyp, 0) + 2)
    return s


def run_resp(a):
    class Via(redis.Connection):
        def _connect(self):
            sock = open_via(a)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock

    pool = redis.ConnectionPool(connection_class=Via, host=a.host, port=a.port, protocol=2)
    r = redis.Redis(connection_pool=pool)
    r.flushall()
    r.set("user:1:name", "alice")
    r.get("user:1:name")
    r.incr("visits")
    r.incr("visits")
    r.hset("h", mapping={"f1": "v1", "f2": "v2"})
    r.hgetall("h")
    r.lpush("l", "a", "b", "c")
    r.lrange("l", 0, -1)
    r.get("missing")
    try:
        r.incr("user:1:name")
    except redis.ResponseError:
        pass
    r.ping()
    r.close()
    pool.disconnect()


def mail(n, attachment):
    body = (
        "From: alice@example.test\r\n"
        "To: bob@example.test\r\n"
        f"Subject: Hello{n}!\r\n"
        f"Message-ID: <tunnel{n}@wiresift.test>\r\n"
        "Date: Tue, 01 Dec 2026 18:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
    )
    if not attachment:
        return body + "Content-Type: text/plain\r\n\r\nHi Bob,\r\n.this line starts with a dot\r\nAlice\r\n"
    # About 9 KB: a text part and a base64 attachment (the shape of Zeek's smtp-attachment-msg).
    blob = base64.encodebytes(bytes((i * 7 + 3) % 256 for i in range(6400))).decode()
    blob = blob.replace("\n", "\r\n")
    return (
        body
        + 'Content-Type: multipart/mixed; boundary="wsb"\r\n\r\n'
        + "--wsb\r\nContent-Type: text/plain\r\n\r\nThe file is attached.\r\n"
        + '--wsb\r\nContent-Type: application/octet-stream; name="data.bin"\r\n'
        + "Content-Transfer-Encoding: base64\r\n\r\n"
        + blob
        + "--wsb--\r\n"
    )


def run_smtp(a):
    class Via(smtplib.SMTP):
        def _get_socket(self, host, port, timeout):
            return open_via(a)

    c = Via(a.host, a.port, local_hostname="client.wiresift.test", timeout=20)
    c.ehlo("client.wiresift.test")
    c.sendmail("alice@example.test", ["bob@example.test"], mail(1, False))
    c.sendmail("alice@example.test", ["bob@example.test", "carol@example.test"], mail(2, True))
    c.quit()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proto", choices=["resp", "smtp"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--via", default="direct",
                    choices=["direct", "http", "socks4", "socks4a", "socks5"])
    ap.add_argument("--proxy")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--expect-fail", action="store_true",
                    help="the proxy must refuse (exit 0 when it does)")
    a = ap.parse_args()
    try:
        (run_resp if a.proto == "resp" else run_smtp)(a)
    except (OSError, redis.exceptions.ConnectionError) as e:
        if a.expect_fail:
            print(f"refused as expected: {e}")
            return
        raise
    if a.expect_fail:
        sys.exit("the proxy did not refuse")


if __name__ == "__main__":
    main()
