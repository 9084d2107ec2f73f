#!/usr/bin/env bash
# testdata/gen/tcp.sh — make the plain-TCP reassembly captures in testdata/tcp/.
#
# Usage (root, from the repo root):  bash testdata/gen/tcp.sh [OUTDIR]   (default testdata/tcp)
# Needs: iproute2, nftables, tcpdump, tshark/editcap, python3, ethtool (optional, see netns.sh).
#
# Real TCP between two network namespaces (server 10.77.0.1 / fd77::1, client 10.77.0.2 /
# fd77::2, veth pair, MTU 1500, offloads off; see testdata/gen/netns.sh) with small python3
# socket programs (written to a temp dir at run time). Client source ports are fixed, payloads are
# deterministic; timestamps, ISNs and which packets the random loss hits are not.
# Server ports: 9000 echo, 9001 sink (reads to EOF, replies "OK <n>\n"), 9002 sink for the
# heartbeat, 9003 server-speaks-first (sends "220 wiresift ready\r\n", then echoes).
#
#   clean.pcap        4 connections, no loss: echo v4 (sport 40001), 20000-byte upload v4 (40002),
#                     echo over IPv6 (40003), server-speaks-first v4 (40004). Captured at the server.
# Client and server are joined through a bridge namespace (ns_setup ... wire) where nft drops
# frames "on the wire" (the kernel has no netem):
#   hole.pcap         NOT a fresh capture: clean.pcap with the 3rd data segment of the 20000-byte
#                     upload deleted by editcap (a hole no retransmission fills; tshark's follow
#                     prints "[1448 bytes missing in capture file]" there).
#   lossy-recv.pcap   300000-byte upload (sport 40010 -> 9001), ~7 % of the client's data segments
#                     dropped in the bridge, captured at the SERVER veth (receiver, after the drop
#                     point): the dropped segments are absent (retransmissions, out-of-order, SACK).
#   lossy-send.pcap   same upload (sport 40011), same loss, captured at the CLIENT veth (sender,
#                     before the drop point): originals and retransmitted duplicates both present.
#   heartbeat.pcap    client (sport 40020, TCP_NODELAY) sends a 21-byte message "HB-NNNNN wiresift hb\n"
#                     every 5 ms (60 messages); message HB-00020 is dropped once in the bridge (nft raw
#                     payload match + quota), the following ones arrive and wait at the receiver until
#                     the RTO retransmission ~200 ms later. Captured at the server. SACK, RACK and TLP
#                     are disabled in the client namespace and tcp_reordering raised, so the recovery is
#                     the classic RTO (with them on, Linux repairs the loss in a few ms).
#   heartbeat-3.pcap  the same with 12 messages 60 ms apart (sport 40021), HB-00005 dropped once:
#                     exactly three later heartbeats (HB-00006..8) wait for the RTO retransmission.
#   port-reuse.pcap   two connections on the same 4-tuple 10.77.0.2:40030 -> 10.77.0.1:9000
#                     (SO_REUSEADDR, bound source port; the server closes first so the client port
#                     is free; the server's TIME_WAIT accepts the new SYN).
#   midstream.pcap    client (sport 40040) sends "tick NNNN\n" every 20 ms for 3 s to the echo port;
#                     tcpdump starts 1 s after the connection was established (no handshake in the
#                     capture); the connection ends with FIN inside the capture.
#   rst.pcap          echo exchange (sport 40050) then the client closes with SO_LINGER {1,0} -> RST.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-testdata/tcp}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
source testdata/gen/netns.sh

TMP=$(mktemp -d /tmp/wiresift-tcp.XXXXXX)
cleanup() { ns_cleanup; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

cat >"$TMP/srv.py" <<'EOF'
import socket, sys, threading
def handle(c, mode):
    try:
        if mode == "greet":
            c.sendall(b"220 wiresift ready\r\n")
        n = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            n += len(d)
            if mode in ("echo", "greet"):
                c.sendall(d)
                if d.endswith(b"QUIT\n"):   # server closes first (port-reuse case)
                    break
        if mode == "sink":
            c.sendall(b"OK %d\n" % n)
    except OSError:
        pass
    finally:
        c.close()
def serve(port, mode):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c, mode), daemon=True).start()
for spec in sys.argv[1:]:
    port, mode = spec.split(":")
    threading.Thread(target=serve, args=(int(port), mode), daemon=True).start()
threading.Event().wait()
EOF

cat >"$TMP/cli.py" <<'EOF'
import socket, struct, sys, time
def conn(host, port, sport, nodelay=False):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
    s.settimeout(20)
    s.connect((host, port))
    return s
def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d: raise EOFError("short read %d/%d" % (len(b), n))
        b += d
    return b
def drain(s):
    b = b""
    while True:
        d = s.recv(65536)
        if not d: return b
        b += d
def pattern(n):
    out = bytearray(); i = 0
    while len(out) < n:
        out += b"wiresift bulk line %07d abcdefghijklmnopqrstuvwxyz\n" % i; i += 1
    return bytes(out[:n])
cmd, host, port, sport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
a = sys.argv[5:]
if cmd == "echo":                       # echo MSG... then FIN
    s = conn(host, port, sport)
    for m in a:
        m = m.encode() + b"\n"; s.sendall(m); recv_exact(s, len(m)); time.sleep(0.01)
    s.shutdown(socket.SHUT_WR); drain(s); s.close()
elif cmd == "greet":
    s = conn(host, port, sport)
    g = recv_exact(s, 20)
    for m in a:
        m = m.encode() + b"\r\n"; s.sendall(m); recv_exact(s, len(m)); time.sleep(0.01)
    s.shutdown(socket.SHUT_WR); drain(s); s.close()
elif cmd == "bulk":                     # bulk NBYTES
    n = int(a[0]); s = conn(host, port, sport)
    s.sendall(pattern(n)); s.shutdown(socket.SHUT_WR)
    r = drain(s); s.close()
    assert r == b"OK %d\n" % n, r
elif cmd == "heartbeat":                # heartbeat COUNT INTERVAL_S
    count, iv = int(a[0]), float(a[1])
    s = conn(host, port, sport, nodelay=True)
    t0 = time.monotonic()
    for i in range(count):
        m = b"HB-%05d wiresift hb\n" % i
        assert len(m) == 21
        s.sendall(m)
        t0 += iv
        time.sleep(max(0, t0 - time.monotonic()))
    s.shutdown(socket.SHUT_WR); r = drain(s); s.close()
    assert r == b"OK %d\n" % (21 * count), r
elif cmd == "reuse":                    # two connections on one 4-tuple, server closes first
    for k in range(2):
        s = conn(host, port, sport)
        m = b"connection %d on a reused 4-tuple QUIT\n" % (k + 1)
        s.sendall(m); recv_exact(s, len(m)); drain(s); s.close()
        time.sleep(0.3)
elif cmd == "ticks":                    # ticks DURATION_S INTERVAL_S
    dur, iv = float(a[0]), float(a[1])
    s = conn(host, port, sport, nodelay=True)
    print("connected", flush=True)
    i = 0; end = time.monotonic() + dur
    while time.monotonic() < end:
        m = b"tick %04d\n" % i; s.sendall(m); recv_exact(s, len(m)); i += 1; time.sleep(iv)
    s.shutdown(socket.SHUT_WR); drain(s); s.close()
elif cmd == "rst":
    s = conn(host, port, sport)
    m = b"this connection ends with a RST\n"; s.sendall(m); recv_exact(s, len(m))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
EOF

ns_setup wstcp wire
SRV=$NS_SRV_IP4 SRV6=$NS_SRV_IP6
ns_srv python3 "$TMP/srv.py" 9000:echo 9001:sink 9002:sink 9003:greet & ns_track $!
for p in 9000 9001 9002 9003; do ns_wait_port "$NS_SRV" $p; done
# ONLY="heartbeat rst" bash testdata/gen/tcp.sh  regenerates only those captures
want() { [[ -z ${ONLY:-} || " $ONLY " == *" $1 "* ]]; }
# every client run is bounded in time
CLI=(timeout 60 ip netns exec "$NS_CLI" python3 "$TMP/cli.py")
DATA="tcp dport { 9001, 9002 } tcp flags & (syn|fin|rst) == 0"

if want clean; then
echo "== clean.pcap" >&2
ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/clean.pcap"
"${CLI[@]}" echo "$SRV" 9000 40001 "hello wiresift" "second line" "third line, the last"
"${CLI[@]}" bulk "$SRV" 9001 40002 20000
"${CLI[@]}" echo "$SRV6" 9000 40003 "hello over ipv6" "bye"
"${CLI[@]}" greet "$SRV" 9003 40004 "EHLO client.example" "QUIT"
ns_capture_stop "$OUT/clean.pcap"
fi

if want hole; then
echo "== hole.pcap (edited from clean.pcap)" >&2
# a hole that is never filled: delete the 3rd data segment of the 20000-byte upload (sport 40002)
fr=$(tshark -r "$OUT/clean.pcap" -Y 'tcp.srcport == 40002 && tcp.len > 0' -T fields -e frame.number 2>/dev/null | sed -n 3p)
editcap -F pcap "$OUT/clean.pcap" "$OUT/hole.pcap" "$fr"
fi

if want lossy-recv; then
echo "== lossy-recv.pcap" >&2
ns_wire_drop_random 7 $DATA
ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/lossy-recv.pcap"
"${CLI[@]}" bulk "$SRV" 9001 40010 300000
ns_capture_stop "$OUT/lossy-recv.pcap"
ns_wire_counters; ns_wire_flush
fi

if want lossy-send; then
echo "== lossy-send.pcap" >&2
ns_wire_drop_random 7 $DATA
ns_capture_start "$NS_CLI" "$NS_CLI_IF" "$OUT/lossy-send.pcap"
"${CLI[@]}" bulk "$SRV" 9001 40011 300000
ns_capture_stop "$OUT/lossy-send.pcap"
ns_wire_counters; ns_wire_flush
fi

if want heartbeat; then
echo "== heartbeat.pcap" >&2
ns_sysctl "$NS_CLI" net.ipv4.tcp_sack=0 net.ipv4.tcp_recovery=0 net.ipv4.tcp_early_retrans=0 \
    net.ipv4.tcp_reordering=100
# payload starts 32 bytes into the TCP header (20 + 12 bytes of timestamp option): "HB-00020"
ns_wire_drop_once tcp dport 9002 @th,256,64 0x48422d3030303230
ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/heartbeat.pcap"
"${CLI[@]}" heartbeat "$SRV" 9002 40020 60 0.005
ns_capture_stop "$OUT/heartbeat.pcap"
ns_wire_counters; ns_wire_flush
echo "== heartbeat-3.pcap" >&2
# the issue's wording: one lost heartbeat holds the next three (60 ms apart) until the RTO
ns_wire_drop_once tcp dport 9002 @th,256,64 0x48422d3030303035
ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/heartbeat-3.pcap"
"${CLI[@]}" heartbeat "$SRV" 9002 40021 12 0.06
ns_capture_stop "$OUT/heartbeat-3.pcap"
ns_wire_counters; ns_wire_flush
ns_sysctl "$NS_CLI" net.ipv4.tcp_sack=1 net.ipv4.tcp_recovery=1 net.ipv4.tcp_early_retrans=3 \
    net.ipv4.tcp_reordering=3
fi

if want port-reuse; then
echo "== port-reuse.pcap" >&2
ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/port-reuse.pcap"
"${CLI[@]}" reuse "$SRV" 9000 40030
ns_capture_stop "$OUT/port-reuse.pcap"
fi

if want midstream; then
echo "== midstream.pcap" >&2
"${CLI[@]}" ticks "$SRV" 9000 40040 3 0.02 >"$TMP/ticks.out" & TK=$!
for _ in $(seq 1 100); do grep -q connected "$TMP/ticks.out" && break; sleep 0.05; done
sleep 1
ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/midstream.pcap"
wait $TK
ns_capture_stop "$OUT/midstream.pcap"
fi

if want rst; then
echo "== rst.pcap" >&2
ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/rst.pcap"
"${CLI[@]}" rst "$SRV" 9000 40050
ns_capture_stop "$OUT/rst.pcap"
fi

echo "tcp.sh: done, captures in $OUT" >&2
