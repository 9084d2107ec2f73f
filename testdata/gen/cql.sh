#!/usr/bin/env bash
# testdata/gen/cql.sh — make the CQL captures in testdata/cql/.
#
# Usage (root, from the repo root):  bash testdata/gen/cql.sh [OUTDIR]   (default testdata/cql)
#   ONLY="v4 lossy" bash testdata/gen/cql.sh   regenerates only those captures
# Needs: tcpdump, nftables, iproute2, ethtool (optional), node, and three client installs:
#   python3 -m venv /tmp/cqvenv  && CASS_DRIVER_NO_CYTHON=1 /tmp/cqvenv/bin/pip install cassandra-driver lz4 python-snappy
#   python3 -m venv /tmp/cqvenv2 && CASS_DRIVER_NO_CYTHON=1 /tmp/cqvenv2/bin/pip install scylla-driver lz4 python-snappy
#   (cd /tmp/cqnode && npm init -y && npm install cassandra-driver)
# (override with CQL_PY, SCYLLA_PY, CQL_NODE_PATH). Versions used for the committed captures:
# cassandra-driver 3.30.1, scylla-driver 3.29.12, Node.js cassandra-driver 4.10.0.
#
# No Cassandra can be installed here: the server is testdata/gen/cql/responder.py, written from
# the protocol spec (see its header), in the server namespace (10.77.0.1). Clients
# (testdata/gen/cql/client.py for the python drivers, client.js for Node.js) run in the client
# namespace (10.77.0.2). The namespaces are joined through a bridge namespace (netns.sh "wire")
# so loss can be made on the wire. Captures: tcpdump -s 0 on the server's veth, MTU 1500.
# Responders: 9042 (no auth), 9142 (PasswordAuthenticator, cassandra/cassandra; a non-default
# port on purpose: found by probing).
#
#   v3.pcap         python v3: basic (DDL, INSERT, SELECT with set/list/map/UDT/tuple columns,
#                   count(*) with a warning-free v3 reply), paging, prepared, batch, errors;
#                   Node.js v3 (its own handshake, concurrent out-of-order, paging, prepared,
#                   unlogged batch, errors).
#   v3-snappy.pcap  python v3 + snappy: basic, ooo, paging.
#   v4.pcap         python v4: basic, ooo, paging, prepared, prepared2 (PREPARE on one connection,
#                   EXECUTE on another; prepared cache cleared -> Unprepared -> re-prepare), batch
#                   (logged, unlogged with a warning, counter, one failing), errors (every family),
#                   events (REGISTER on the control connection, then EVENT pushes), tracing
#                   (tracing id in the reply, a warning); Node.js v4.
#   v4-lz4.pcap     python v4 + lz4: basic, ooo, paging, prepared, batch, errors.
#   v4-snappy.pcap  scylla-driver v4 + snappy: basic, paging, prepared, batch, errors, tracing.
#   v5.pcap         python v5 (segments, no compression): the v4 list + big (a 200 KB INSERT and a
#                   ~900 KB result: frames spanning several segments).
#   v5-lz4.pcap     python v5 + lz4 segments: basic, ooo, paging, prepared, batch, errors, big;
#                   scylla-driver v5 + lz4: prepared, errors.
#   auth.pcap       port 9142: python v4 auth success then a query session, auth failure (wrong
#                   password); python v5 auth success.
#   lossy.pcap      python v4 + lz4 load (1,500 concurrent queries, 64 in flight) with ~5 % of
#                   the data segments dropped on the wire in both directions; captured at the
#                   server.
#   negotiate.pcap  python and Node.js drivers left to negotiate the version: they try DSE v2
#                   (0x42) and DSE v1 (0x41) first, get protocol errors, then settle.
#   midstream.pcap  python v4 steady traffic for 3 s, capture started 1 s after connecting.
#   midstream-v5.pcap  the same with v5 + lz4 segments (resync on segment CRC24).
#   v4-client-only.pcap, v4-server-only.pcap, v5-lz4-client-only.pcap, v5-lz4-server-only.pcap
#                   v4.pcap / v5-lz4.pcap filtered with tshark to one direction (ip.src).
#   v4-holes.pcap, v5-lz4-holes.pcap  v4.pcap / v5-lz4.pcap with every 40th data packet removed
#                   (editcap): holes that no retransmission fills.
# tshark.golden.tsv (what tshark 4.0 decodes of the v3/v4 captures) is made afterwards by
# testdata/gen/cql/tshark_golden.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-testdata/cql}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
GEN=$(pwd)/testdata/gen/cql
source testdata/gen/netns.sh
PY=${CQL_PY:-/tmp/cqvenv/bin/python}
SPY=${SCYLLA_PY:-/tmp/cqvenv2/bin/python}
NODEP=${CQL_NODE_PATH:-/tmp/cqnode/node_modules}

cleanup() { ns_cleanup; }
trap cleanup EXIT
trap 'exit 1' INT TERM

ns_setup wscq wire
SRV=$NS_SRV_IP4
ns_srv timeout 900 "$PY" "$GEN/responder.py" --port 9042 >&2 & ns_track $!
ns_srv timeout 900 "$PY" "$GEN/responder.py" --port 9142 --auth >&2 & ns_track $!
ns_wait_port "$NS_SRV" 9042
ns_wait_port "$NS_SRV" 9142

want() { [[ -z ${ONLY:-} || " $ONLY " == *" $1 "* ]]; }
cap() { ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/$1" tcp; }
done_cap() { ns_capture_stop "$OUT/$1"; }
# py [PYTHON] SCENARIO VERSION COMPRESSION [ARG]
py() { timeout 120 ip netns exec "$NS_CLI" "$PY" "$GEN/client.py" "$SRV" "$@" >&2; }
spy() { timeout 120 ip netns exec "$NS_CLI" "$SPY" "$GEN/client.py" "$SRV" "$@" >&2; }
nodecli() { NODE_PATH=$NODEP timeout 120 ip netns exec "$NS_CLI" node "$GEN/client.js" "$SRV" "$@" >&2; }

if want v3; then cap v3.pcap
    for s in basic paging prepared batch errors; do py $s 3 none; done; nodecli 3; done_cap v3.pcap; fi
if want v3-snappy; then cap v3-snappy.pcap
    for s in basic ooo paging; do py $s 3 snappy; done; done_cap v3-snappy.pcap; fi
if want v4; then cap v4.pcap
    for s in basic ooo paging prepared prepared2 batch errors events tracing; do py $s 4 none; done
    nodecli 4; done_cap v4.pcap; fi
if want v4-lz4; then cap v4-lz4.pcap
    for s in basic ooo paging prepared batch errors; do py $s 4 lz4; done; done_cap v4-lz4.pcap; fi
if want v4-snappy; then cap v4-snappy.pcap
    for s in basic paging prepared batch errors tracing; do spy $s 4 snappy; done; done_cap v4-snappy.pcap; fi
if want v5; then cap v5.pcap
    for s in basic ooo paging prepared prepared2 batch errors events tracing big; do py $s 5 none; done
    done_cap v5.pcap; fi
if want v5-lz4; then cap v5-lz4.pcap
    for s in basic ooo paging prepared batch errors big; do py $s 5 lz4; done
    for s in prepared errors; do spy $s 5 lz4; done; done_cap v5-lz4.pcap; fi
if want auth; then cap auth.pcap
    CQL_PORT=9142 py auth 4 none; CQL_PORT=9142 py authfail 4 none; CQL_PORT=9142 py auth 5 none
    done_cap auth.pcap; fi
if want lossy; then
    for dir in dport sport; do
        ns_wire_drop_random 5 tcp $dir 9042 tcp flags \& \(syn\|fin\|rst\) == 0 ip length \> 56
    done
    cap lossy.pcap; py load 4 lz4 1500; done_cap lossy.pcap
    ns_wire_counters; ns_wire_flush; fi
if want negotiate; then cap negotiate.pcap
    py basic auto none; nodecli auto; done_cap negotiate.pcap; fi
midstream() {   # midstream NAME VERSION COMPRESSION
    local f=$1 tmp; tmp=$(mktemp)
    timeout 60 ip netns exec "$NS_CLI" "$PY" "$GEN/client.py" "$SRV" steady "$2" "$3" 3 >"$tmp" & local pid=$!
    for _ in $(seq 1 200); do grep -q connected "$tmp" && break; sleep 0.05; done
    sleep 1; cap "$f"; wait $pid; done_cap "$f"; rm -f "$tmp"
}
if want midstream; then midstream midstream.pcap 4 none; fi
if want midstream-v5; then midstream midstream-v5.pcap 5 lz4; fi
ls -l "$OUT" >&2

# real capture holes (never retransmitted into the file): every 40th data packet removed
if want holes; then
    for f in v4 v5-lz4; do
        n=$(tshark -r "$OUT/$f.pcap" -Y 'tcp.len>0' -T fields -e frame.number 2>/dev/null | awk 'NR%40==20' | tr '\n' ' ')
        # shellcheck disable=SC2086
        editcap -F pcap "$OUT/$f.pcap" "$OUT/$f-holes.pcap" $n
    done
fi

# one-sided copies (issue 13): only the client's packets, only the server's packets
if want onesided; then
    for f in v4 v5-lz4; do
        tshark -r "$OUT/$f.pcap" -Y "ip.src==$NS_CLI_IP4" -w "$OUT/$f-client-only.pcap" 2>/dev/null
        tshark -r "$OUT/$f.pcap" -Y "ip.src==$NS_SRV_IP4" -w "$OUT/$f-server-only.pcap" 2>/dev/null
    done
fi
