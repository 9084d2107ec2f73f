#!/usr/bin/env bash
# Seed fuzz corpora from the project's own test captures (and ../shared/pcaps when present).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/decode corpus/resp corpus/smtp corpus/reassembly
for f in ../testdata/*/*.pcap ../testdata/*/*.pcapng ../../shared/pcaps/*/*.pcap*; do
  [ -f "$f" ] || continue
  sz=$(stat -c %s "$f")
  [ "$sz" -le 200000 ] && cp "$f" "corpus/decode/$(basename "$f")"
done
# Session targets take stream bytes: use the tshark-derived golden streams (client bytes then
# server bytes, 4 KiB of each), whatever framing a target puts on its input.
for t in resp smtp; do
  for d in ../testdata/golden/$t/*/; do
    [ -d "$d" ] || continue
    stem=$(basename "$d")
    for c in "$d"*.c2s; do
      [ -f "$c" ] || continue
      s="${c%.c2s}.s2c"
      { head -c 4096 "$c"; [ -f "$s" ] && head -c 4096 "$s"; } > "corpus/$t/$stem-$(basename "${c%.c2s}")"
    done
  done
done
echo "seeded: $(ls corpus/decode | wc -l) decode, $(ls corpus/resp | wc -l) resp, $(ls corpus/smtp | wc -l) smtp"
