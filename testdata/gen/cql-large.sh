#!/usr/bin/env bash
# testdata/gen/cql-large.sh — a large CQL load capture (not committed: testdata/large/ is
# gitignored) and the end-to-end measurement: wiresift's release `dissect` and `latency` vs
# tshark on the same file, in the same run.
#
# Usage (root, repo root):  bash testdata/gen/cql-large.sh [CONNECTIONS] [REQUESTS_PER_CONNECTION]
# (default 8 x 50000 = 400,000 requests, v4 with lz4). Needs what cql.sh needs, plus
# /usr/bin/time. Load: testdata/gen/cql/load.py (raw v4 client, 64 requests in flight per
# connection, 1 % delayed so replies come back out of order) against responder.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${1:-8}
PER=${2:-50000}
OUT=testdata/large
mkdir -p "$OUT"
F=$(pwd)/$OUT/cql-load.pcap
GEN=$(pwd)/testdata/gen/cql
PY=${CQL_PY:-/tmp/cqvenv/bin/python}
source testdata/gen/netns.sh
trap ns_cleanup EXIT
ns_setup wscq
ns_srv timeout 900 "$PY" "$GEN/responder.py" --port 9042 >&2 & ns_track $!
ns_wait_port "$NS_SRV" 9042
NS_CAP_BUFFER_KB=131072 ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$F" tcp port 9042
timeout 900 ip netns exec "$NS_CLI" "$PY" "$GEN/load.py" "$NS_SRV_IP4" 9042 "$CONNS" "$PER" lz4 >&2
ns_capture_stop "$F"
ls -l "$F" >&2

cargo build -q --release --examples
m() {  # m NAME CMD... — wall time and peak RSS
    local name=$1; shift
    /usr/bin/time -f "$name: %e s, %M KB peak RSS" "$@" >/tmp/cql-large.$$.out 2>/tmp/cql-large.$$.err || true
    tail -n 1 /tmp/cql-large.$$.err
}
echo "capture: $(stat -c %s "$F") bytes"
m "wiresift dissect" target/release/examples/dissect "$F"
echo "  transactions: $(wc -l </tmp/cql-large.$$.out)"
m "wiresift latency" target/release/examples/latency "$F"
m "tshark -Y cql -T fields (opcode, stream)" tshark -r "$F" -Y cql -T fields -e cql.opcode -e cql.stream
echo "  tshark lines: $(wc -l </tmp/cql-large.$$.out)"
rm -f /tmp/cql-large.$$.out /tmp/cql-large.$$.err
