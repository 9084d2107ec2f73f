#!/bin/sh
# Print pt-fingerprint's output for each statement given on stdin (one per line, `\n` escapes
# allowed), the reference column of crates/wiresift-core/src/fingerprint.rs's tests.
# Needs percona-toolkit (Debian package; the tests recorded 3.2.1).
set -eu
while IFS= read -r q; do
  q=$(printf '%b' "$q")
  printf '%s\t%s\n' "$q" "$(pt-fingerprint --match-embedded-numbers --query "$q")"
done
