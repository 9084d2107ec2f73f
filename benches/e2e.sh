#!/usr/bin/env bash
# End-to-end measurement over a large capture: wall time, throughput and peak RSS of the examples,
# and tshark on the same file in the same run for comparison.
#
#   bash benches/e2e.sh [CAPTURE...]
#
# Default captures: testdata/large/resp-bench-*.pcap (make them with
# `bash testdata/gen/resp-large.sh 62`, `… 250`, `… 1000`) and a synthetic 1 GiB in-order capture
# (`cargo run --release --example synth`). Each command runs once after one warm-up read of the
# file (page cache); wiresift's commands run 3 times and the fastest is reported (the machine
# here is a shared 2-vCPU VM whose run-to-run noise is ±20%), tshark once. Each wiresift
# command runs with --threads 1 and with --threads 2 (WIRESIFT_E2E_THREADS="1 2" by default).
# tshark is skipped with WIRESIFT_E2E_NO_TSHARK=1.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --examples -q
B=target/release/examples
caps=("$@")
if [ ${#caps[@]} -eq 0 ]; then
  mkdir -p testdata/large
  [ -f testdata/large/synth-1024mb.pcap ] || $B/synth testdata/large/synth-1024mb.pcap 1024
  for f in testdata/large/resp-bench-*.pcap testdata/large/synth-1024mb.pcap; do
    [ -f "$f" ] && caps+=("$f")
  done
fi
measure() { # name runs file cmd...
  local name=$1 runs=$2 file=$3; shift 3
  local size; size=$(stat -c %s "$file")
  local secs="" kb=0
  for _ in $(seq "$runs"); do
    /usr/bin/time -o /tmp/e2e.time -f "%e %M" "$@" >/dev/null 2>/tmp/e2e.err || true
    local out; out=$(tail -n1 /tmp/e2e.time)
    local t=${out% *} k=${out#* }
    if [ -z "$secs" ] || awk -v a="$t" -v b="$secs" 'BEGIN{exit !(a<b)}'; then secs=$t; fi
    [ "$k" -gt "$kb" ] && kb=$k
  done
  awk -v n="$name" -v f="$(basename "$file")" -v s="$size" -v t="$secs" -v k="$kb" \
    'BEGIN { printf "%-28s %-28s %8.1f MB %8.2f s %9.1f MB/s %8.1f MB peak RSS\n", f, n, s/1e6, t, (t>0? s/1e6/t : 0), k/1024 }'
}
printf "%-28s %-28s %11s %10s %14s %18s\n" capture command size time throughput memory
for f in "${caps[@]}"; do
  cat "$f" > /dev/null
  for t in ${WIRESIFT_E2E_THREADS:-1 2}; do
    measure "flows --threads $t" 3 "$f" $B/flows --threads "$t" "$f"
    measure "latency --threads $t" 3 "$f" $B/latency --threads "$t" "$f"
    measure "dissect --threads $t" 3 "$f" $B/dissect --threads "$t" "$f"
  done
  if [ "${WIRESIFT_E2E_NO_TSHARK:-0}" != 1 ] && command -v tshark >/dev/null && [[ $(basename "$f") == resp-* ]]; then
    measure "tshark -Y resp -T fields" 1 "$f" tshark -r "$f" -Y resp -T fields -e frame.number -e resp.bulk_string.value
  fi
done
