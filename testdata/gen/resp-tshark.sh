#!/usr/bin/env bash
# testdata/gen/resp-tshark.sh — golden files from tshark's RESP dissector for every capture in
# testdata/resp/, compared by tests/resp_tshark.rs.
#
# For each capture F, the server ports are the destination ports of its SYNs (or 6379 when none
# was captured), and tshark is run as:
#   tshark -r F -d tcp.port==P,resp … -Y resp -T fields -E separator=/t -E aggregator=$'\x1f' \
#     -e tcp.stream -e frame.number -e tcp.srcport -e resp.array.length \
#     -e resp.bulk_string.value -e resp.error
# and reduced (the full bulk values would be megabytes) to testdata/golden/resp-tshark/<stem>.tsv:
#   stream  frame  dir(c2s|s2c)  commands  errors
# where `commands` are the first elements of the arrays a client frame carries (tshark's array
# lengths say where each array starts), upper-cased, comma-joined, and `errors` the error
# replies of a server frame joined by 0x1f. Inline commands and RESP3 types are not decoded by
# tshark 4.0, so they do not appear here.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=testdata/golden/resp-tshark
mkdir -p "$out"
for f in testdata/resp/*.pcap; do
  stem=$(basename "$f" .pcap)
  ports=$(tshark -r "$f" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e tcp.dstport 2>/dev/null | sort -un)
  [ -n "$ports" ] || ports=6379
  dargs=()
  for p in $ports; do dargs+=(-d "tcp.port==$p,resp"); done
  tshark -r "$f" "${dargs[@]}" -Y resp -T fields -E separator=/t -E aggregator=$'\x1f' \
    -e tcp.stream -e frame.number -e tcp.srcport -e resp.array.length \
    -e resp.bulk_string.value -e resp.error 2>/dev/null |
  PORTS="$ports" python3 -c '
import os, sys
ports = set(int(p) for p in os.environ["PORTS"].split())
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    f += [""] * (6 - len(f))
    stream, frame, sport, lens, bulks, errs = f[:6]
    c2s = int(sport) not in ports
    cmds = []
    if c2s and lens:
        bl = bulks.split("\x1f") if bulks else []
        i = 0
        for n in lens.split("\x1f"):
            n = int(n)
            if n > 0 and i < len(bl):
                cmds.append(bytes.fromhex(bl[i]).decode("utf-8", "replace").upper())
            i += max(n, 0)
    print("\t".join([stream, frame, "c2s" if c2s else "s2c", ",".join(cmds), errs if not c2s else ""]))
' > "$out/$stem.tsv"
  echo "$stem (ports $ports): $(wc -l < "$out/$stem.tsv") frames"
done
