#!/usr/bin/env bash
# Seed fuzz corpora from the project's own test captures (and ../shared/pcaps when present).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/decode corpus/resp corpus/smtp corpus/reassembly corpus/cql
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
# cql: a selector byte, the client stream's length (2 bytes), then the first 4 KiB of each direction of a few connections of the CQL
# captures (v4 frames, lz4/snappy frames, v5 segments), reassembled by tshark when present.
if command -v tshark >/dev/null 2>&1; then
  for f in v4 v4-lz4 v3-snappy v5 v5-lz4; do
    [ -f "../testdata/cql/$f.pcap" ] || continue
    for s in 1 3 5; do
      hex=$(tshark -r "../testdata/cql/$f.pcap" -q -z "follow,tcp,raw,$s" 2>/dev/null | grep -E '^\s*[0-9a-f]+$' || true)
      c2s=$(printf '%s\n' "$hex" | grep -v '^\s' | tr -d '\n' | head -c 8192)
      s2c=$(printf '%s\n' "$hex" | grep '^\s' | tr -d ' \t\n' | head -c 8192)
      [ -n "$c2s" ] || continue
      sel=$([ "${f#v5}" != "$f" ] && echo 00 || echo 01)
      printf '%s%04x%s%s' "$sel" $(( ${#c2s} / 2 )) "$c2s" "$s2c" | xxd -r -p > "corpus/cql/$f-$s"
    done
  done
fi
echo "seeded: $(ls corpus/cql | wc -l) cql"
echo "seeded: $(ls corpus/decode | wc -l) decode, $(ls corpus/resp | wc -l) resp, $(ls corpus/smtp | wc -l) smtp"
