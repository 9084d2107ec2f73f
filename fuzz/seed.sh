#!/usr/bin/env bash
# Seed fuzz corpora from the project's own test captures (and ../shared/pcaps when present).
#
# Seeds are kept small on purpose (the fuzz targets' cost grows with input length and libFuzzer
# replays the whole corpus first): captures for `decode` are at most 16 KiB (larger ones are cut
# to their first 4 KiB, still a valid capture prefix), and session seeds are at most 2 KiB.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/decode corpus/reassembly corpus/resp corpus/resp_pipeline corpus/smtp \
  corpus/mysql corpus/cql corpus/tns corpus/tunnel corpus/engine
n=0
for f in ../testdata/*/*.pcap ../testdata/*/*.pcapng ../../shared/pcaps/*/*.pcap*; do
  [ -f "$f" ] || continue
  [ "$n" -lt 64 ] || break
  sz=$(stat -c %s "$f")
  if [ "$sz" -le 16384 ]; then
    cp "$f" "corpus/decode/$(basename "$f")"
  else
    # Cut with bash, not `| head`: head closing the pipe early can kill the writer with
    # SIGPIPE, which `set -o pipefail` turns into a failure of this script.
    dd if="$f" of="corpus/decode/$(basename "$f").4k" bs=4096 count=1 status=none
  fi
  n=$((n + 1))
done
# Session targets take a selector byte then a script of records [ctl, len, bytes…] (ctl bit 0:
# direction; see fuzz/src/lib.rs `Script`); the tunnel target takes the script alone. The
# records are the TCP payloads of the first connections of each protocol's captures, in
# capture order, as tshark's `follow,tcp,raw` gives them (skipped when tshark is missing).
python3 - <<'PY'
import glob, os, re, shutil, subprocess

def rec(d, b):
    out = b""
    for i in range(0, len(b), 255):
        c = b[i:i + 255]
        out += bytes([d, len(c)]) + c
    return out

def streams(pcap, count=2):
    for s in range(count):
        try:
            txt = subprocess.run(["tshark", "-r", pcap, "-q", "-z", f"follow,tcp,raw,{s}"],
                                 capture_output=True, text=True, timeout=60).stdout
        except Exception:
            return
        recs = []
        for line in txt.splitlines():
            m = re.fullmatch(r"(\s*)([0-9a-f]+)", line)
            if not m:
                continue
            recs.append((1 if m.group(1) else 0, bytes.fromhex(m.group(2))))
        if recs:
            yield s, recs

have_tshark = shutil.which("tshark") is not None
targets = {"resp": "resp", "smtp": "smtp", "mysql": "mysql", "cql": "cql", "tns": "tns",
           "tunnel": "tunnel"}
for target, proto in targets.items():
    if not have_tshark:
        break
    files = sorted(glob.glob(f"../testdata/{proto}/*.pcap"))[:8]
    for f in files:
        for s, recs in streams(f):
            script = b"".join(rec(d, b) for d, b in recs)[:2048]
            seed = script if target == "tunnel" else b"\x00" + script
            name = f"corpus/{target}/{os.path.basename(f)[:-5]}-{s}"
            open(name, "wb").write(seed)

# Tunnel set-ups by hand as well (the captures may use other ports).
seeds = {
    "http": rec(0, b"CONNECT 10.0.0.2:25 HTTP/1.1\r\nHost: 10.0.0.2:25\r\n\r\n")
    + rec(1, b"HTTP/1.1 200 Connection established\r\n\r\n220 mx\r\n"),
    "socks5": rec(0, bytes([5, 2, 0, 2])) + rec(1, bytes([5, 2]))
    + rec(0, bytes([1, 1]) + b"u" + bytes([1]) + b"p") + rec(1, bytes([1, 0]))
    + rec(0, bytes([5, 1, 0, 3, 2]) + b"mx" + bytes([0, 25]))
    + rec(1, bytes([5, 0, 0, 1, 10, 0, 0, 2, 4, 56]) + b"220 mx\r\n"),
    "socks4a": rec(0, bytes([4, 1, 0, 25, 0, 0, 0, 1]) + b"u\0mx\0")
    + rec(1, bytes([0, 90, 0, 0, 0, 0, 0, 0])),
}
for k, v in seeds.items():
    open(f"corpus/tunnel/{k}", "wb").write(v)
PY
for t in decode resp smtp mysql cql tns tunnel; do
  printf 'seeded %s: %s files, %s\n' "$t" "$(ls "corpus/$t" | wc -l)" "$(du -sh "corpus/$t" | cut -f1)"
done
