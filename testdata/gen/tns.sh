#!/usr/bin/env bash
# testdata/gen/tns.sh — make the TNS (Oracle) captures in testdata/tns/.
#
# Usage (root, from the repo root):  bash testdata/gen/tns.sh [OUTDIR]   (default testdata/tns)
# Needs: tshark (checks the lossy run), python3 with python-oracledb (`pip install oracledb`, thin mode) and cryptography,
# node + `npm install` in testdata/gen/tns (node-oracledb, thin), iproute2, nftables, tcpdump,
# ethtool (optional; see netns.sh).
#
# No Oracle server can be installed here: testdata/gen/tns/listener.py is a listener + server
# of our own, written from python-oracledb's thin parser so that the real thin clients accept
# it (see its docstring). It runs in the server namespace (10.77.0.1, port 1521; namespaces
# wstn-srv / wstn-cli joined through a bridge namespace so loss can be made on the wire), the
# clients (testdata/gen/tns/client.py, client.js) in the client namespace. Captures are taken
# with tcpdump -s 0 -U --immediate-mode on the server's veth (MTU 1500, offloads off).
#
#   python-319.pcap  version 319, TTC field version 24 (23ai: tokens), end-of-response flag:
#                    session (SELECT of 250 rows over 3 fetches, DML with binds, executemany,
#                    module/action/client id (end-to-end piggyback), PL/SQL, commit, rollback, ORA-00942 and ORA-00904 through BREAK/RESET, a
#                    27 KB SQL over 4 packets, re-execute, ping, logoff), a wrong password
#                    (ORA-01017), a refused service (ORA-12514), a REDIRECT, a RESEND, a connect
#                    descriptor over 230 bytes (sent in a DATA packet after the CONNECT).
#   python-315.pcap  version 315, field version 8 (12.2): session and a wrong password.
#   node-319.pcap    node-oracledb thin against version 319, field version 13.
#   bigsql.pcap      SDU 2 MiB: a 125 KB SELECT in one DATA packet (32-bit length 0x0001e9xx),
#                    then two replies of exactly 65536 and 131072 bytes (32-bit lengths whose
#                    low half is zero: tshark reads those as 16-bit lengths, see README).
#   lossy.pcap       python-319's session with ~3 % of the data segments dropped on the wire in
#                    both directions (retransmissions; captured at the server).
#   midstream.pcap   one session running a SELECT/FETCH/UPDATE every 50 ms for 3 s; capture
#                    starts 1 s after it logged in (no CONNECT, no AUTH in the capture).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-testdata/tns}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
GEN=$(pwd)/testdata/gen/tns
source testdata/gen/netns.sh

TMP=$(mktemp -d /tmp/wiresift-tns.XXXXXX)
cleanup() { ns_cleanup; rm -rf "$TMP"; }
trap cleanup EXIT
ns_setup wstn wire
SRV=$NS_SRV_IP4

listener() {  # listener ARGS... — (re)start the listener on 1521 with ARGS
    if [[ -n ${LPID:-} ]]; then kill "$LPID" 2>/dev/null || true; wait "$LPID" 2>/dev/null || true; fi
    # ip netns exec execs python: $! is the listener itself (a shell function would not be).
    ip netns exec "$NS_SRV" python3 "$GEN/listener.py" --port 1521 "$@" >"$TMP/listener.log" 2>&1 &
    LPID=$!
    ns_track "$LPID"
    ns_wait_port "$NS_SRV" 1521
}
cap() { ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/$1" tcp; }
py() { timeout 60 ip netns exec "$NS_CLI" python3 "$GEN/client.py" "$SRV" 1521 "$@" >&2; }

echo "== python-319.pcap" >&2
listener --version 319 --field-version 24 --eor
cap python-319.pcap
py session badpw refuse redirect resend longdsn
ns_capture_stop "$OUT/python-319.pcap"

echo "== python-315.pcap" >&2
listener --version 315 --field-version 8
cap python-315.pcap
py session badpw
ns_capture_stop "$OUT/python-315.pcap"

echo "== node-319.pcap" >&2
listener --version 319 --field-version 13
cap node-319.pcap
(cd "$GEN" && timeout 120 ip netns exec "$NS_CLI" node client.js "$SRV" 1521 >&2)
ns_capture_stop "$OUT/node-319.pcap"

echo "== bigsql.pcap" >&2
listener --version 319 --field-version 24 --sdu 2097152
cap bigsql.pcap
py bigsql pad
ns_capture_stop "$OUT/bigsql.pcap"

echo "== lossy.pcap" >&2
listener --version 319 --field-version 24 --eor
for dir in dport sport; do
    ns_wire_drop_random 3 tcp $dir 1521 tcp flags \& \(syn\|fin\|rst\) == 0 ip length \> 56
done
# random drops: run again (at most 5 times) until the capture has retransmissions
for _ in 1 2 3 4 5; do
    cap lossy.pcap
    py session
    ns_capture_stop "$OUT/lossy.pcap"
    n=$(tshark -r "$OUT/lossy.pcap" -Y tcp.analysis.retransmission 2>/dev/null | wc -l)
    echo "lossy.pcap: $n retransmissions" >&2
    [[ $n -gt 1 ]] && break
done
ns_wire_counters; ns_wire_flush

echo "== midstream.pcap" >&2
ip netns exec "$NS_CLI" python3 "$GEN/client.py" "$SRV" 1521 slow 3 >"$TMP/mid.out" 2>&1 & MID=$!
for _ in $(seq 1 100); do grep -q connected "$TMP/mid.out" && break; sleep 0.05; done
sleep 1
cap midstream.pcap
wait "$MID"
ns_capture_stop "$OUT/midstream.pcap"

ls -l "$OUT"/*.pcap >&2
