#!/usr/bin/env bash
# Replay every input kept in fuzz/regressions/T/ through fuzz target T (built without a
# sanitizer, as run-all.sh builds them) and say which still fail. `.v0` files are in an earlier
# input format and are replayed by crate tests instead (see regressions/README.md).
#
#   bash fuzz/replay.sh [TARGET…]
set -uo pipefail
cd "$(dirname "$0")"
cargo +nightly fuzz build -s none >/dev/null 2>&1 || { echo "build failed"; exit 2; }
bin=target/x86_64-unknown-linux-gnu/release
fail=0
for d in regressions/*/; do
  t=$(basename "$d")
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$t"; then continue; fi
  for f in "$d"*; do
    case $f in *.v0 | *.md) continue ;; esac
    if out=$("$bin/$t" "$f" 2>&1); then
      echo "ok    $t $(basename "$f")"
    else
      echo "FAIL  $t $(basename "$f"): $(printf '%s\n' "$out" | grep -a -A1 panicked | tail -n1)"
      fail=1
    fi
  done
done
exit $fail
