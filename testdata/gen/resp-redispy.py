#!/usr/bin/env python3
"""Second reference for RESP (tshark 4.0 cannot decode RESP3, and its RESP dissector miscounts
large and pipelined values): redis-py's own RESP2/RESP3 parsers over the TCP streams as tshark
reassembles them (`tshark -q -z follow,tcp,raw,N`). Uses the readers in
crates/wiresift-resp/tools/crosscheck.py.

    python3 testdata/gen/resp-redispy.py        # needs tshark and `pip install redis` (8.1 used)

Writes testdata/golden/resp-redispy/<stem>.tsv for every testdata/resp/<stem>.pcap, one row per
TCP stream: stream, client (tshark's node 0), command names in order (upper-cased, comma-joined;
up to and including PSYNC/SYNC on a replication link), number of error replies (on a replication
link, among the replies to those commands).
"""
import os
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(root, "crates", "wiresift-resp", "tools"))
from crosscheck import reference, streams  # noqa: E402

out_dir = os.path.join(root, "testdata", "golden", "resp-redispy")
os.makedirs(out_dir, exist_ok=True)
resp_dir = os.path.join(root, "testdata", "resp")
for name in sorted(os.listdir(resp_dir)):
    if not name.endswith(".pcap"):
        continue
    rows = []
    for n, (node0, node1, c2s, s2c) in enumerate(streams(os.path.join(resp_dir, name))):
        cmds, errs, _, _ = reference(c2s, s2c)
        rows.append(f"{n}\t{node0}\t{','.join(cmds)}\t{errs}")
    with open(os.path.join(out_dir, name[:-5] + ".tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    print(name, len(rows), "streams")
