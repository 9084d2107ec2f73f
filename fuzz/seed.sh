#!/usr/bin/env bash
# Seed fuzz corpora from the project's own test captures (and ../shared/pcaps when present).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/decode corpus/resp corpus/smtp corpus/reassembly corpus/cql corpus/tunnel
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
      # Cut with bash, not `| head`: head closing the pipe early kills tr with SIGPIPE, which
      # `set -o pipefail` turns into a failure of this script (seen in CI, depending on timing).
      c2s=$(printf '%s\n' "$hex" | grep -v '^\s' | tr -d '\n' || true)
      s2c=$(printf '%s\n' "$hex" | grep '^\s' | tr -d ' \t\n' || true)
      c2s=${c2s:0:8192}
      s2c=${s2c:0:8192}
      [ -n "$c2s" ] || continue
      sel=$([ "${f#v5}" != "$f" ] && echo 00 || echo 01)
      printf '%s%04x%s%s' "$sel" $(( ${#c2s} / 2 )) "$c2s" "$s2c" | xxd -r -p > "corpus/cql/$f-$s"
    done
  done
fi
echo "seeded: $(ls corpus/cql | wc -l) cql"
# Tunnel set-ups in the tunnel target's script format ([ctl, len, bytes]; ctl 0 client, 1 proxy).
python3 - <<'PY'
def rec(d, b):
    return bytes([d, len(b)]) + b
seeds = {
    "http": rec(0, b"CONNECT 10.0.0.2:25 HTTP/1.1\r\nHost: 10.0.0.2:25\r\n\r\n")
    + rec(1, b"HTTP/1.1 200 Connection established\r\n\r\n220 mx\r\n"),
    "socks5": rec(0, bytes([5, 2, 0, 2])) + rec(1, bytes([5, 2]))
    + rec(0, bytes([1, 1]) + b"u" + bytes([1]) + b"p") + rec(1, bytes([1, 0]))
    + rec(0, bytes([5, 1, 0, 3, 2]) + b"mx" + bytes([0, 25]))
    + rec(1, bytes([5, 0, 0, 1, 10, 0, 0, 2, 4, 56]) + b"220 mx\r\n"),
    "socks4a": rec(0, bytes([4, 1, 0, 25, 0, 0, 0, 1]) + b"u\0mx\0") + rec(1, bytes([0, 90, 0, 0, 0, 0, 0, 0])),
}
for k, v in seeds.items():
    open(f"corpus/tunnel/{k}", "wb").write(v)
PY
echo "seeded: $(ls corpus/decode | wc -l) decode, $(ls corpus/resp | wc -l) resp, $(ls corpus/smtp | wc -l) smtp"
