#!/usr/bin/env python3
"""Write testdata/cql/tshark.golden.tsv: what tshark decodes of the v3/v4 captures, one line per
CQL frame: capture, client port, opcode, stream, result kind, error code, frame flags, query text (QUERY and
PREPARE). tests/cql_tshark.rs compares wiresift's output with it.

Usage (repo root): python3 testdata/gen/cql/tshark_golden.py > testdata/cql/tshark.golden.tsv
Made with TShark (Wireshark) 4.0.x (Debian 12). Also prints to stderr what tshark makes of the
v5 captures (it has no v5 segment framing).
"""
import json
import subprocess
import sys

CAPTURES = ["v3.pcap", "v3-snappy.pcap", "v4.pcap", "v4-lz4.pcap", "v4-snappy.pcap", "auth.pcap",
            "midstream.pcap", "lossy.pcap"]
DIR = "testdata/cql/"


def find(node, key):
    """First value of `key` anywhere under node (depth first, in document order)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                return v
            r = find(v, key)
            if r is not None:
                return r
    elif isinstance(node, list):
        for v in node:
            r = find(v, key)
            if r is not None:
                return r
    return None


def pdus(path):
    out = subprocess.run(["tshark", "-r", path, "-o", "tcp.reassemble_out_of_order:TRUE", "-d", "tcp.port==9142,cql", "-Y", "cql", "-T", "json",
                          "--no-duplicate-keys", "-J", "tcp cql"], capture_output=True, check=True).stdout
    for pkt in json.loads(out or b"[]"):
        l = pkt["_source"]["layers"]
        tcp = l["tcp"]
        tcp = tcp[0] if isinstance(tcp, list) else tcp
        sport, dport = int(tcp["tcp.srcport"]), int(tcp["tcp.dstport"])
        client = dport if sport in (9042, 9142) else sport
        cql = l["cql"]
        for c in cql if isinstance(cql, list) else [cql]:
            op = c.get("cql.opcode")
            if op is None:
                continue
            op = int(op)
            q = ""
            if op in (7, 9):
                q = find(c, "cql.string") or ""
            kind = find(c, "cql.result.kind") if op == 8 else None
            err = find(c, "cql.error_code") if op == 0 else None
            flags = int(c.get("cql.flags", "0x00"), 16)
            yield client, op, int(c.get("cql.stream", "0")), kind or "", err or "", flags, q


def main():
    for cap in CAPTURES:
        for client, op, stream, kind, err, flags, q in pdus(DIR + cap):
            q = q.replace("\t", " ").replace("\n", " ")
            print("\t".join([cap, str(client), str(op), str(stream), str(kind), str(err), str(flags), q]))
    for cap in ["v5.pcap", "v5-lz4.pcap"]:
        n = sum(1 for _ in pdus(DIR + cap))
        mal = subprocess.run(["tshark", "-r", DIR + cap, "-Y", "_ws.malformed && cql", "-T", "fields", "-e", "frame.number"],
                             capture_output=True).stdout.decode().split()
        print("%s: tshark decodes %d CQL frames, %d packets marked malformed" % (cap, n, len(mal)), file=sys.stderr)


main()
