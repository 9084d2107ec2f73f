#!/usr/bin/env bash
# testdata/gen/golden.sh — reference per-direction stream bytes from tshark for every capture.
#
# Usage (from the repo root):  bash testdata/gen/golden.sh [CAPTURE...]
#   default: every testdata/{tcp,resp,smtp}/*.pcap (smtp when present);
#   GOLDEN_FROM_HEAD=1 bash testdata/gen/golden.sh  uses the versions committed in HEAD
# Needs: tshark (4.0 used), python3. Deterministic: same capture + same tshark -> same files.
#
# For capture testdata/<dir>/<stem>.pcap it writes testdata/golden/<dir>/<stem>/ (the <dir> level
# keeps tcp/midstream and resp/midstream apart):
#   <N>.c2s, <N>.s2c  bytes of TCP stream N (tshark's tcp.stream index) in each direction, as
#                     reassembled by `tshark -r F -q -z follow,tcp,raw,N` (hex decoded). Bytes tshark
#                     never saw are NOT in these files (not zero-filled); see "gap" lines in .meta.
#                     A direction with more than GOLDEN_MAX_BYTES (default 524288) bytes is stored
#                     as <N>.c2s.sha256 / <N>.s2c.sha256 instead (sha256sum format; the length is
#                     in .meta), to keep the repository small (bigvalue, smtp large-attachment).
#   <N>.meta          text: node0/node1 as tshark's follow names them (node 0 = source of the first
#                     packet tshark saw in the stream), client/server and the rule that chose them
#                     ("syn": the sender of the SYN without ACK; "port": no SYN captured, the endpoint
#                     with the higher port is the client), c2s_bytes/s2c_bytes, and one line
#                     "gap <c2s|s2c> <offset> <length>" per hole (offset = bytes of that direction's
#                     file written before the hole).
#   index.tsv         one row per stream: stream node0 node1 bytes0 bytes1 client server c2s_bytes
#                     s2c_bytes gaps   (bytes0 = node0->node1 bytes, gaps = number of holes)
# IPv6 endpoints are written as [addr]:port.
#
# tshark's follow,tcp,raw behaviour (4.0): lines not indented are node0 -> node1, lines starting with
# a tab are node1 -> node0, one line per delivered chunk, in order; out-of-order segments are put in
# sequence order and retransmitted bytes are emitted once. A hole that is never filled is emitted AS
# DATA: the hex of the ASCII text "[N bytes missing in capture file]" plus a NUL byte, as one chunk
# on that direction's line (e.g. 5b31343438...5d00 for 1448 bytes). This script recognises a chunk
# consisting exactly of that text and turns it into a gap line instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

# GOLDEN_FROM_HEAD=1: use the captures as committed in HEAD (git archive into a temp dir), not the
# working tree — for when someone is regenerating captures in the shared checkout.
src=testdata
if [[ ${GOLDEN_FROM_HEAD:-0} == 1 ]]; then
    htmp=$(mktemp -d /tmp/wiresift-golden.XXXXXX)
    trap 'rm -rf "$htmp"' EXIT
    for d in tcp resp smtp; do
        git archive HEAD "testdata/$d" 2>/dev/null | tar -x -C "$htmp" 2>/dev/null || true
    done
    src=$htmp/testdata
fi
if [[ $# -gt 0 ]]; then caps=("$@"); else
    caps=()
    for d in tcp resp smtp; do
        [[ -d $src/$d ]] || continue
        for f in "$src/$d"/*.pcap "$src/$d"/*.pcapng; do [[ -e $f ]] && caps+=("$f"); done
    done
fi

for f in "${caps[@]}"; do
    dir=$(basename "$(dirname "$f")")
    stem=$(basename "$f"); stem=${stem%.pcap}; stem=${stem%.pcapng}
    out=testdata/golden/$dir/$stem
    rm -rf "$out"; mkdir -p "$out"
    # one pass for endpoints / SYNs, then one follow per stream
    timeout 300 tshark -r "$f" -Y tcp -T fields -E separator=/t -e tcp.stream -e ip.src -e ipv6.src \
        -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport -e tcp.flags.syn -e tcp.flags.ack \
        2>/dev/null >"$out/.packets"
    for n in $(cut -f1 "$out/.packets" | sort -un); do
        timeout 300 tshark -r "$f" -q -z "follow,tcp,raw,$n" 2>/dev/null >"$out/.follow.$n"
    done
    python3 - "$out" <<'EOF'
import hashlib, os, re, sys
out = sys.argv[1]
MAX = int(os.environ.get("GOLDEN_MAX_BYTES", "524288"))
def ep(ip, port):
    return "[%s]:%s" % (ip, port) if ":" in ip else "%s:%s" % (ip, port)
streams = {}
for line in open(os.path.join(out, ".packets")):
    s, ip4s, ip6s, sp, ip4d, ip6d, dp, syn, ack = line.rstrip("\n").split("\t")
    st = streams.setdefault(int(s), {"syn": None, "eps": []})
    src, dst = ep(ip4s or ip6s, sp), ep(ip4d or ip6d, dp)
    if not st["eps"]:
        st["eps"] = [(src, int(sp)), (dst, int(dp))]
    if syn in ("1", "True") and ack in ("0", "False") and st["syn"] is None:
        st["syn"] = src
missing = re.compile(rb"^\[(\d+) bytes missing in capture file\]\x00?$")
rows = []
for n in sorted(streams):
    lines = open(os.path.join(out, ".follow.%d" % n)).read().split("\n")
    nodes = {}
    data = {0: bytearray(), 1: bytearray()}
    gaps = []
    body = False
    for l in lines:
        m = re.match(r"^Node ([01]): (.*):(\d+)$", l)
        if m:
            nodes[int(m.group(1))] = ep(m.group(2).strip("[]"), m.group(3)); body = True; continue
        if not body or not l.strip() or l.startswith("====="):
            continue
        d = 1 if l.startswith("\t") else 0
        chunk = bytes.fromhex(l.strip())
        g = missing.match(chunk)
        if g:
            gaps.append((d, len(data[d]), int(g.group(1))))
        else:
            data[d] += chunk
    st = streams[n]
    if st["syn"]:
        client, rule = st["syn"], "syn"
    else:
        (a, pa), (b, pb) = st["eps"]
        client, rule = (a if pa > pb else b), "port"
    if 0 not in nodes:           # no payload at all: tshark prints no usable node lines
        nodes = {0: st["eps"][0][0], 1: st["eps"][1][0]}
    cdir = 0 if nodes[0] == client else 1
    server = nodes[1 - cdir]
    c2s, s2c = data[cdir], data[1 - cdir]
    for name, b in (("%d.c2s" % n, c2s), ("%d.s2c" % n, s2c)):
        if len(b) > MAX:
            open(os.path.join(out, name + ".sha256"), "w").write(
                "%s  %s\n" % (hashlib.sha256(b).hexdigest(), name))
        else:
            open(os.path.join(out, name), "wb").write(b)
    with open(os.path.join(out, "%d.meta" % n), "w") as m:
        m.write("stream %d\nnode0 %s\nnode1 %s\nclient %s\nserver %s\nclient_rule %s\n"
                "c2s_bytes %d\ns2c_bytes %d\n" % (n, nodes[0], nodes[1], client, server, rule, len(c2s), len(s2c)))
        for d, off, ln in gaps:
            m.write("gap %s %d %d\n" % ("c2s" if d == cdir else "s2c", off, ln))
    rows.append("%d\t%s\t%s\t%d\t%d\t%s\t%s\t%d\t%d\t%d" % (n, nodes[0], nodes[1], len(data[0]), len(data[1]),
                                                           client, server, len(c2s), len(s2c), len(gaps)))
with open(os.path.join(out, "index.tsv"), "w") as f:
    f.write("stream\tnode0\tnode1\tbytes0\tbytes1\tclient\tserver\tc2s_bytes\ts2c_bytes\tgaps\n")
    f.write("".join(r + "\n" for r in rows))
EOF
    rm -f "$out"/.packets "$out"/.follow.*
    echo "golden: $f -> $out ($(($(wc -l <"$out/index.tsv") - 1)) streams)" >&2
done
