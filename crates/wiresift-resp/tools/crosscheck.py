#!/usr/bin/env python3
"""Cross-check wiresift's RESP transactions against references on a capture.

Usage (from the repository root, after `cargo build --release --example dissect`):
    crates/wiresift-resp/tools/crosscheck.py CAPTURE...

Reference: tshark reassembles each TCP stream (`tshark -q -z follow,tcp,raw,N`, so tshark decides
what the bytes are, retransmissions and all), and redis-py's own RESP2 and RESP3 parsers (`_RESP2Parser`,
`_RESP3Parser`, whichever reads further) decodes both directions: requests are arrays of bulk strings, replies
are counted as errors when redis-py returns a ResponseError. This covers RESP3, which tshark 4.0's
RESP dissector does not decode.

Per connection it compares, in order, the command names (wiresift: request.args[0] of each
transaction sorted by time) and the number of error replies (wiresift: status == "error").
Replication links are compared up to PSYNC/SYNC (what follows is reported as messages, and
redis-py cannot read an RDB payload); inline commands and RESP3 attributes, which redis-py's
reply parser does not read, end the reference for that direction (reported).
"""
import json
import re
import subprocess
import sys
from collections import defaultdict

from redis._parsers.encoders import Encoder
from redis._parsers.resp2 import _RESP2Parser
from redis._parsers.resp3 import _RESP3Parser
from redis._parsers.socket import SocketBuffer
from redis.exceptions import ResponseError


class FakeSock:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def recv_into(self, buf, *a):
        n = min(len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n

    def recv(self, n, *a):
        b = self.data[self.pos:self.pos + n]
        self.pos += len(b)
        return b

    def settimeout(self, *a):
        pass

    def gettimeout(self):
        return None


def read_all(data, requests=False, parser=_RESP3Parser):
    """Top-level values (pushes skipped by redis-py), stopping at the first unreadable byte.
    With `requests`, an inline command line (which redis-py does not read) is split on blanks
    and parsing resumes after it."""
    out, stop, base = [], None, 0
    while base < len(data):
        sock = FakeSock(data[base:])
        p = parser(65536)
        p._buffer = SocketBuffer(sock, 65536, None)
        p.encoder = Encoder("utf-8", "replace", False)
        # Every error reply is a value (redis-py raises some, e.g. NOAUTH, as exceptions).
        p.parse_error = ResponseError
        while True:
            try:
                out.append(p.read_response(disable_decoding=True))
            except Exception as e:  # end of data, or something redis-py cannot read
                used = base + sock.pos - p._buffer.unread_bytes()
                if used >= len(data):
                    return out, stop
                if requests and data[used:used + 1] != b"*":
                    end = data.find(b"\n", used)
                    end = len(data) if end < 0 else end + 1
                    words = data[used:end].split()
                    if words:
                        out.append(words)
                    base = end
                    break
                return out, repr(e)[:80]
    return out, stop


def reference(c2s, s2c):
    """redis-py's reading of one connection: (command names in order, up to and including
    PSYNC/SYNC; number of error replies among the replies; where requests stopped; where
    replies stopped)."""
    reqs, rstop = read_all(c2s, requests=True)
    cmds = []
    for r in reqs:
        if isinstance(r, list) and r and isinstance(r[0], bytes):
            cmds.append(r[0].decode("utf-8", "replace").upper())
            if cmds[-1] in ("PSYNC", "SYNC"):
                break
    # redis-py's RESP3 reader does not take RESP2 nulls and vice versa: keep the reading that
    # gets further.
    replies, pstop = max((read_all(s2c, parser=k) for k in (_RESP2Parser, _RESP3Parser)),
                         key=lambda r: (r[1] is None, len(r[0])))
    if "PSYNC" in cmds or "SYNC" in cmds:
        replies = replies[:len(cmds)]
    errs = sum(isinstance(x, ResponseError) for x in replies)
    return cmds, errs, rstop, pstop


def streams(cap):
    n = 0
    while True:
        r = subprocess.run(["tshark", "-r", cap, "-q", "-z", f"follow,tcp,raw,{n}"],
                           capture_output=True, text=True).stdout
        m = re.search(r"Node 0: (\S+)\nNode 1: (\S+)\n(.*?)\n=+", r, re.S)
        if not m:
            return
        c2s, s2c = bytearray(), bytearray()
        for line in m.group(3).splitlines():
            if line.startswith("\t"):
                s2c += bytes.fromhex(line.strip())
            elif line.strip():
                c2s += bytes.fromhex(line.strip())
        yield m.group(1), m.group(2), bytes(c2s), bytes(s2c)
        n += 1


def main():
    dissect = "target/release/examples/dissect"
    grand = [0, 0, 0, 0]
    for cap in sys.argv[1:]:
        rows = [json.loads(l) for l in subprocess.run([dissect, cap], capture_output=True,
                                                      text=True).stdout.splitlines() if l.strip()]
        rows.sort(key=lambda e: float(e["ts"]))
        ws_cmds, ws_errs = defaultdict(list), defaultdict(int)
        for e in rows:
            key = e["client"]
            args = (e.get("request") or {}).get("args") or []
            if args:
                ws_cmds[key].append(args[0].upper())
            ws_errs[key] += e["status"] == "error"
        req_all = req_same = err_all = err_same = 0
        for node0, node1, c2s, s2c in streams(cap):
            # Node 0 is the side that sent first: the client on every capture here.
            cmds, errs, rstop, pstop = reference(c2s, s2c)
            key = node0 if node0 in ws_cmds or node0 in ws_errs else node1
            a, b = cmds, ws_cmds.get(key, [])
            n = max(len(a), len(b))
            same = sum(1 for x, y in zip(a, b) if x == y)
            req_all += n
            req_same += same
            we = ws_errs.get(key, 0)
            err_all += max(errs, we)
            err_same += min(errs, we)
            if same != n or errs != we or rstop or pstop:
                print(f"  {node0}: requests ref={len(a)} wiresift={len(b)} same={same}; "
                      f"errors ref={errs} wiresift={we}"
                      + (f"; ref requests stopped: {rstop}" if rstop else "")
                      + (f"; ref replies stopped: {pstop}" if pstop else ""))
        pr = 100.0 * req_same / req_all if req_all else 100.0
        pe = 100.0 * err_same / err_all if err_all else 100.0
        print(f"{cap}: requests {req_same}/{req_all} ({pr:.2f}%), error replies "
              f"{err_same}/{err_all} ({pe:.2f}%)")
        for i, v in enumerate((req_same, req_all, err_same, err_all)):
            grand[i] += v
    if len(sys.argv) > 2:
        print(f"TOTAL: requests {grand[0]}/{grand[1]}, error replies {grand[2]}/{grand[3]}")


main()
