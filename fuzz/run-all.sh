#!/usr/bin/env bash
# Run every fuzz target for DURATION seconds each and print a table of executions.
#
#   bash fuzz/run-all.sh DURATION [-j N] [TARGET…]
#
# Targets run one after the other (-j N: N at a time), each from its corpus in fuzz/corpus/T
# (seed it first with fuzz/seed.sh), without a sanitizer (all library crates forbid unsafe code;
# ASan only slowed them down), with debug assertions and overflow checks (cargo-fuzz's default),
# capped input length and a 1 GiB RSS limit. WIRESIFT_FUZZ_SEED fixes libFuzzer's seed (default
# 0: random); WIRESIFT_FUZZ_RUNS stops a target after that many executions. Logs go to fuzz/target/run-all/T.log; a crash leaves its input in fuzz/artifacts/T/.
# Exit status: 1 if any target crashed.
set -uo pipefail
cd "$(dirname "$0")"
ALL="decode reassembly resp resp_pipeline smtp mysql cql tns tunnel engine"
dur=${1:?usage: run-all.sh DURATION [-j N] [TARGET…]}
shift
jobs=1
if [ "${1:-}" = -j ]; then
  jobs=${2:?-j needs a number}
  shift 2
fi
targets=${*:-$ALL}

# Longest input libFuzzer generates, per target (the targets also cut their input).
max_len() {
  case $1 in
    decode) echo 16384 ;;
    resp | smtp | resp_pipeline) echo 2048 ;;
    *) echo 4096 ;;
  esac
}

logs=target/run-all
mkdir -p "$logs"
cargo +nightly fuzz build -s none >$logs/build.log 2>&1 || {
  tail -n 30 $logs/build.log
  exit 2
}

run_one() {
  t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(ls "artifacts/$t" | wc -l)
  # CPU seconds the run got (user + sys): the machine may be shared, so exec/s alone says
  # little; execs per CPU second is the target's own speed.
  /usr/bin/time -f '%U %S' -o "$logs/$t.cpu" \
    cargo +nightly fuzz run -s none "$t" -- -max_total_time="$dur" -print_final_stats=1 \
    -max_len="$(max_len "$t")" -rss_limit_mb=1024 -seed="${WIRESIFT_FUZZ_SEED:-0}" \
    ${WIRESIFT_FUZZ_RUNS:+-runs=$WIRESIFT_FUZZ_RUNS} >"$logs/$t.log" 2>&1
  rc=$?
  after=$(ls "artifacts/$t" | wc -l)
  echo "$rc $((after - before))" >"$logs/$t.rc"
}
export -f run_one max_len
export dur logs

if [ "$jobs" -gt 1 ]; then
  printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'run_one {}'
else
  for t in $targets; do run_one "$t"; done
fi

fail=0
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
printf '%-14s %12s %8s %8s %10s %8s %8s\n' target execs exec/s cpu_s exec/cpu_s rss_mb crashes
for t in $targets; do
  execs=$(grep -a 'stat::number_of_executed_units' "$logs/$t.log" | awk '{print $2}' | tail -n1)
  rate=$(grep -a 'stat::average_exec_per_sec' "$logs/$t.log" | awk '{print $2}' | tail -n1)
  rss=$(grep -a 'stat::peak_rss_mb' "$logs/$t.log" | awk '{print $2}' | tail -n1)
  # No final stats after a crash: the last status line's count.
  [ -n "$execs" ] || execs=$(grep -aoE '^#[0-9]+' "$logs/$t.log" | tail -n1 | tr -d '#')
  read -r rc new <"$logs/$t.rc"
  crashes=$new
  if [ "$rc" != 0 ] && [ "$new" = 0 ]; then crashes="rc=$rc"; fi
  [ "$rc" != 0 ] && fail=1
  cpu=$(awk 'END {printf "%.1f", $1 + $2}' "$logs/$t.cpu" 2>/dev/null)
  per=$(awk -v e="${execs:-0}" -v c="${cpu:-0}" 'BEGIN {if (c > 0) printf "%.0f", e / c; else print "-"}')
  printf '%-14s %12s %8s %8s %10s %8s %8s\n' "$t" "${execs:--}" "${rate:--}" "${cpu:--}" "$per" "${rss:--}" "$crashes"
done
exit $fail
