#!/usr/bin/env bash
# testdata/gen/tns-large.sh — make a LARGE capture of python-oracledb thin traffic against the
# listener of testdata/gen/tns/ for the end-to-end measurement. NOT committed: written to
# testdata/large/ (gitignored).
#
# Usage (root, from the repo root):  bash testdata/gen/tns-large.sh [SIZE_MB]   (default 40)
# Output: testdata/large/tns-load-<SIZE_MB>mb.pcap. Needs what testdata/gen/tns.sh needs.
#
# The listener (version 319, field version 24, end of response) in the server namespace, four
# client processes in the client namespace each running `client.py ... loop 20` (whole sessions:
# login, 250-row SELECT over 3 fetches, DML with binds, executemany, PL/SQL, commit, rollback,
# two errors, a 27 KB SQL, re-execute, ping, logoff) until the file reaches SIZE_MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MB=${1:-40}
mkdir -p testdata/large
OUTF=$(pwd)/testdata/large/tns-load-${SIZE_MB}mb.pcap
GEN=$(pwd)/testdata/gen/tns
source testdata/gen/netns.sh
NS_CAP_BUFFER_KB=${NS_CAP_BUFFER_KB:-131072}
cleanup() { ns_cleanup; }
trap cleanup EXIT
ns_setup wstnl
ip netns exec "$NS_SRV" python3 "$GEN/listener.py" --port 1521 --version 319 --field-version 24 --eor >/dev/null 2>&1 &
ns_track $!
ns_wait_port "$NS_SRV" 1521
ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUTF" tcp port 1521
limit=$((SIZE_MB * 1000 * 1000))
while [[ $(stat -c %s "$OUTF") -lt $limit ]]; do
    pids=()
    for _ in 1 2 3 4; do
        ip netns exec "$NS_CLI" python3 "$GEN/client.py" "$NS_SRV_IP4" 1521 loop 20 >/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}"
done
ns_capture_stop "$OUTF"
ls -l "$OUTF" >&2
