#!/usr/bin/env bash
# testdata/gen/resp-large.sh — make a LARGE capture of real redis-benchmark traffic for end-to-end
# benchmarks. NOT committed: written to testdata/large/ (gitignored).
#
# Usage (root, from the repo root):  bash testdata/gen/resp-large.sh [SIZE_MB]   (default 250)
#   e.g. 62 / 250 / 1000 for the 4x smaller and 4x larger variants.
# Output: testdata/large/resp-bench-<SIZE_MB>mb.pcap (stops at the first round boundary at or
# beyond SIZE_MB, so the file is a little larger than asked).
# Needs: redis-server, redis-benchmark, tcpdump, iproute2 (+ ethtool, optional; see netns.sh).
#
# redis-server 7 in a server namespace (10.77.0.1:6379), redis-benchmark in a client namespace
# (10.77.0.2), veth pair with MTU 1500 and offloads off (netns.sh), tcpdump -s 0 on the server's
# veth ("tcp port 6379"). Rounds alternate until the file reaches SIZE_MB:
#   pipelined:      redis-benchmark -q -n 20000 -P 16 -c 50 -r 100000 -t set,get,incr,lpush,lrange_100
#   non-pipelined:  redis-benchmark -q -n 5000 -P 1 -c 20 -r 100000 -t set,get,incr,lpush
# tcpdump's "dropped by kernel" count is printed at the end; if non-zero the capture has holes
# (rerun on an idle machine, or raise NS_CAP_BUFFER_KB).
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MB=${1:-250}
[[ $SIZE_MB =~ ^[0-9]+$ && $SIZE_MB -gt 0 ]] || { echo "usage: $0 [SIZE_MB]" >&2; exit 2; }
mkdir -p testdata/large
OUTF=$(pwd)/testdata/large/resp-bench-${SIZE_MB}mb.pcap
source testdata/gen/netns.sh
NS_CAP_BUFFER_KB=${NS_CAP_BUFFER_KB:-131072}

TMP=$(mktemp -d /tmp/wiresift-resplarge.XXXXXX)
cleanup() { ns_cleanup; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

ns_setup wslarge
ip netns exec "$NS_SRV" timeout 7200 redis-server --port 6379 --bind 0.0.0.0 --protected-mode no \
    --save '' --appendonly no --dir "$TMP" --logfile "$TMP/redis.log" --daemonize no &
ns_track $!
ns_wait_port "$NS_SRV" 6379

ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUTF" tcp port 6379
limit=$((SIZE_MB * 1000 * 1000))
deadline=$((SECONDS + 3600))
round=0
while :; do
    size=$(stat -c %s "$OUTF")
    (( size >= limit )) && break
    (( SECONDS > deadline )) && { echo "resp-large.sh: time limit reached at $size bytes" >&2; break; }
    if (( round % 2 == 0 )); then
        timeout 900 ip netns exec "$NS_CLI" redis-benchmark -h "$NS_SRV_IP4" -q -n 20000 -P 16 -c 50 \
            -r 100000 -t set,get,incr,lpush,lrange_100 2>&1 | tr '\r' '\n' | grep -v -e 'rps=' -e '^ *$' >&2
    else
        timeout 900 ip netns exec "$NS_CLI" redis-benchmark -h "$NS_SRV_IP4" -q -n 20000 -P 1 -c 20 \
            -r 100000 -t set,get,incr,lpush 2>&1 | tr '\r' '\n' | grep -v -e 'rps=' -e '^ *$' >&2
    fi
    round=$((round + 1))
    echo "resp-large.sh: round $round, $(( $(stat -c %s "$OUTF") / 1000000 )) MB" >&2
done
ns_capture_stop "$OUTF"
ls -l "$OUTF" >&2
