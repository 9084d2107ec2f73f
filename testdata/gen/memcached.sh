#!/usr/bin/env bash
# testdata/gen/memcached.sh — make the memcached text-protocol captures in testdata/memcached/.
#
# Usage (root, from the repo root):  bash testdata/gen/memcached.sh [OUTDIR]   (default testdata/memcached)
# Needs: Debian's memcached (1.6.x, `apt-get install memcached`), python3 with pymemcache
# (`pip install pymemcache`, 4.x), iproute2, tcpdump, ethtool (see netns.sh).
#
# Two real memcached servers run in the server namespace (10.77.0.1, see netns.sh): one on its
# own port 11211 and one on 6379 (Redis's port, to check that the RESP plugin gives up on it).
# The client (pymemcache, default_noreply=False, plus one raw socket for what pymemcache does not
# send) runs in the client namespace (10.77.0.2). tcpdump -s 0 --immediate-mode on the server's
# veth, offloads off (wire-sized segments).
#
#   text.pcap      port 11211, one pymemcache connection: set/get (hit, miss), a multi-get, gets +
#                  cas (stored, then EXISTS with a stale token, NOT_FOUND on a missing key),
#                  add (stored, NOT_STORED), replace (NOT_STORED, stored), append, prepend,
#                  incr/decr (and CLIENT_ERROR on a non-numeric value), delete (DELETED,
#                  NOT_FOUND), touch (TOUCHED, NOT_FOUND), a set with noreply, stats, version, a
#                  value with binary bytes. pymemcache closes its connection after the
#                  CLIENT_ERROR of `incr` on a non-numeric value and reconnects, so the rest is
#                  on a second connection. Then a raw third connection: an unknown command
#                  (ERROR), `gat`, `stats slabs`, a two-key get, and `quit`.
#   on-6379.pcap   port 6379 (memcached listening there): set/get/delete/version/quit over one
#                  pymemcache connection.
# Also writes testdata/golden/memcached-tshark/text.tsv (tshark's view of text.pcap, at the end).
# A new run changes times, client ports and frame numbers (the connection ids in
# tests/memcached.rs's expected list): update that list with the new captures.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-testdata/memcached}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
source testdata/gen/netns.sh

TMP=$(mktemp -d /tmp/wiresift-mc.XXXXXX)
cleanup() { ns_cleanup; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
python3 -c 'import pymemcache' 2>/dev/null || { echo "memcached.sh: needs pymemcache (pip install pymemcache)" >&2; exit 1; }
command -v memcached >/dev/null || { echo "memcached.sh: needs memcached (apt-get install memcached)" >&2; exit 1; }

ns_setup mc
SRV=$NS_SRV_IP4

for port in 11211 6379; do
    ip netns exec "$NS_SRV" timeout 300 memcached -u root -l 0.0.0.0 -p "$port" -U 0 -m 16 &
    ns_track $!
    ns_wait_port "$NS_SRV" "$port"
done

cat >"$TMP/drive.py" <<'PY'
import socket, sys, time
from pymemcache.client.base import Client

host, what = sys.argv[1], sys.argv[2]

def text():
    c = Client((host, 11211), default_noreply=False, timeout=5)
    c.set("user:1", "alice", expire=0)
    c.get("user:1")
    c.get("missing")
    c.set("user:2", "bob")
    c.get_many(["user:1", "user:2", "nope"])
    v, token = c.gets("user:1")
    c.cas("user:1", "alice2", token)
    c.cas("user:1", "alice3", token)          # stale token: EXISTS
    c.cas("never", "x", b"1")                 # NOT_FOUND
    c.add("fresh", "1")
    c.add("fresh", "2")                       # NOT_STORED
    c.replace("absent", "x")                  # NOT_STORED
    c.replace("fresh", "3")
    c.append("user:2", "-appended")
    c.prepend("user:2", "pre-")
    c.get("user:2")
    c.set("n", "10")
    c.incr("n", 5)
    c.decr("n", 3)
    try:
        c.incr("user:2", 1)                   # CLIENT_ERROR: not a number
    except Exception:
        pass
    c.incr("nokey", 1)                        # NOT_FOUND
    c.touch("n", 100)
    c.touch("gone", 100)                      # NOT_FOUND
    c.delete("fresh")
    c.delete("fresh")                         # NOT_FOUND
    c.set("quiet", "q", noreply=True)
    c.set("bin", bytes([0, 1, 0xbc, 0xff, 13, 10, 92]))
    c.get("bin")
    c.stats()
    c.version()
    c.quit()
    time.sleep(0.2)
    # A raw connection: what pymemcache does not send.
    s = socket.create_connection((host, 11211), timeout=5)
    def rt(b):
        s.sendall(b)
        time.sleep(0.1)
        return s.recv(65536)
    rt(b"bogus_command x\r\n")               # ERROR
    rt(b"gat 100 user:1\r\n")
    rt(b"stats slabs\r\n")
    rt(b"get user:1 n\r\n")
    s.sendall(b"quit\r\n")
    time.sleep(0.1)
    s.close()

def on6379():
    c = Client((host, 6379), default_noreply=False, timeout=5)
    c.set("k", "hello")
    c.get("k")
    c.delete("k")
    c.version()
    c.quit()

{"text": text, "on6379": on6379}[what]()
PY

cap() {
    local name=$1 what=$2 port=$3
    ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/$name" tcp port "$port"
    ns_cli python3 "$TMP/drive.py" "$SRV" "$what"
    sleep 0.3
    ns_capture_stop "$OUT/$name"
}
cap text.pcap text 11211
cap on-6379.pcap on6379 6379
ls -l "$OUT"

# tshark's memcache dissector over text.pcap, for tests/memcached.rs (tshark 4.x; one row per
# memcache PDU: tcp.stream, source port, command, keys, response, version).
if command -v tshark >/dev/null; then
    mkdir -p testdata/golden/memcached-tshark
    tshark -r "$OUT/text.pcap" -Y memcache -T fields -E separator=/t \
        -e tcp.stream -e tcp.srcport -e memcache.command -e memcache.key -e memcache.response \
        -e memcache.version 2>/dev/null >testdata/golden/memcached-tshark/text.tsv
fi
