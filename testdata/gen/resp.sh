#!/usr/bin/env bash
# testdata/gen/resp.sh — make the RESP (Redis) captures in testdata/resp/.
#
# Usage (root, from the repo root):  bash testdata/gen/resp.sh [OUTDIR]   (default testdata/resp)
# Needs: redis-server/redis-cli/redis-benchmark 7.x (Debian), python3 with redis-py
# (`pip install redis`), iproute2, nftables, tcpdump, ethtool (optional; see netns.sh).
#
# A real redis-server 7 runs in the server namespace (10.77.0.1 / fd77::1, see netns.sh; the
# namespaces are joined through a bridge namespace so loss can be made on the wire), clients
# (redis-py 8 with protocol=2 except where RESP3 is the point — it sends CLIENT SETINFO on
# connect —, redis-cli, redis-benchmark, and a small raw
# socket client for inline commands / RESP3 corner cases) run in the client namespace (10.77.0.2)
# unless noted. Captures are taken with tcpdump -s 0 on the server's veth (MTU 1500) unless noted.
# Servers: main 6379 (--enable-debug-command yes for DEBUG PROTOCOL), auth 6390 (requirepass
# s3cr3t-pw-77), nonstd 7101, replica 6380 (in the client namespace).
#
#   plain.pcap        redis-py: SET/GET/DEL/INCR/EXISTS/LPUSH, WRONGTYPE and ERR errors, unknown
#                     command, CONFIG GET, CLIENT SETINFO (sent by redis-py on connect, and once more
#                     explicitly; Debian's redis 7.0 answers "ERR unknown subcommand 'SETINFO'"); raw socket: inline
#                     commands (PING, SET with a quoted argument), a binary value; redis-cli: a few.
#   pipeline.pcap     redis-py pipeline (transaction=False) of 100 commands; redis-cli --pipe of
#                     100 commands (last one an error).
#   multi.pcap        MULTI/EXEC (QUEUED replies, EXEC array with an in-EXEC WRONGTYPE error),
#                     MULTI + unknown command -> EXECABORT, MULTI/DISCARD, WATCH + EXEC -> nil.
#   resp3.pcap        HELLO 3 (redis-py protocol=3 and raw): HGETALL (map), SMEMBERS (set), ZSCORE
#                     (double), DEBUG PROTOCOL attrib/bignum/true/false/double/verbatim/null/map/set/push,
#                     CLIENT TRACKING ON + GET then a SET from another connection -> invalidation push.
#   pubsub.pcap       redis-py: SUBSCRIBE ch1 ch2, PSUBSCRIBE news.*, PUBLISH from a 2nd connection,
#                     UNSUBSCRIBE, PUNSUBSCRIBE; a RESP3 (HELLO 3) subscriber receiving > pushes; PING
#                     while subscribed.
#   replication.pcap  replica (redis-server --replicaof, client namespace) of the master with 300
#                     preloaded keys, disk-based sync (RDB sent as $<len>), then ~3 s of writes
#                     from a client, repl-ping-replica-period 1 (master PINGs, replica REPLCONF ACK).
#   replication-diskless.pcap  the same with repl-diskless-sync yes (RDB sent as $EOF:<mark>).
#   bigvalue.pcap     captured on lo INSIDE the server namespace (MTU 65536), client there too:
#                     SET of a 1,000,000-byte value, GET of it, SETRANGE making a 1,500,000-byte
#                     value server-side, GET of it (~3.5 MB of payload; a client-side SET of the
#                     1.5 MB value too would exceed the 4 MB size budget).
#   lossy.pcap        redis-benchmark -n 1500 -P 16 -c 4 -d 128 -t set,get,incr,lpush with ~5 % of
#                     the data segments dropped on the wire (bridge namespace) in BOTH directions;
#                     captured at the server: request segments dropped are absent (holes filled by
#                     the retransmission later), reply segments dropped appear twice.
#   lossy-client.pcap the same run captured at the same time at the client's veth: reply segments
#                     dropped are absent, request segments dropped appear twice.
#   midstream.pcap    redis-py client doing SET/GET/INCR every 20 ms for 3 s; capture starts 1 s after
#                     it connected.
#   auth.pcap         server with requirepass s3cr3t-pw-77: NOAUTH error, AUTH wrong -> WRONGPASS,
#                     AUTH s3cr3t-pw-77, HELLO 3 AUTH default s3cr3t-pw-77, redis-cli -a s3cr3t-pw-77.
#   monitor.pcap      redis-cli MONITOR while another client runs commands.
#   nonstd-port.pcap  redis-py against a server on port 7101 (SET/GET/INCR/HSET/HGETALL/PING).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-testdata/resp}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
source testdata/gen/netns.sh

TMP=$(mktemp -d /tmp/wiresift-resp.XXXXXX)
cleanup() { ns_cleanup; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
python3 -c 'import redis' 2>/dev/null || { echo "resp.sh: needs redis-py (pip install redis)" >&2; exit 1; }

ns_setup wsresp wire
SRV=$NS_SRV_IP4

# start_redis NS PORT [extra args...] — redis-server in NS, bounded lifetime, tracked for cleanup
start_redis() {
    local ns=$1 port=$2; shift 2
    mkdir -p "$TMP/r$port"
    ip netns exec "$ns" timeout 600 redis-server --port "$port" --bind 0.0.0.0 :: --protected-mode no \
        --save '' --appendonly no --dir "$TMP/r$port" --logfile "$TMP/r$port/log" \
        --daemonize no "$@" &
    ns_track $!
    ns_wait_port "$ns" "$port"
}
start_redis "$NS_SRV" 6379 --enable-debug-command yes
start_redis "$NS_SRV" 7101
start_redis "$NS_SRV" 6390 --requirepass s3cr3t-pw-77

cat >"$TMP/drive.py" <<'EOF'
import socket, sys, threading, time
import redis

import os
H = os.environ.get("DRIVE_HOST", "10.77.0.1")

def R(port=6379, **kw):
    kw.setdefault("protocol", 2)     # redis-py 8 defaults to RESP3 (HELLO 3); RESP2 unless asked
    return redis.Redis(host=H, port=port, socket_timeout=10, **kw)

class Raw:
    """Minimal raw RESP client: send commands, read whatever comes back until idle."""
    def __init__(self, port=6379, host=None):
        self.s = socket.create_connection((host or H, port), timeout=5)
    def send(self, data):
        self.s.sendall(data)
    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()
    def read(self, idle=0.05):
        buf = b""
        self.s.settimeout(2)
        try:
            buf += self.s.recv(1 << 20)        # wait for the first bytes
            self.s.settimeout(idle)
            while True:
                d = self.s.recv(1 << 20)
                if not d: break
                buf += d
        except socket.timeout:
            pass
        return buf
    def close(self):
        self.s.close()

def plain():
    r = R()
    r.flushall()
    r.set("user:1:name", "alice"); r.get("user:1:name"); r.get("missing-key")
    r.set("counter", 41); r.incr("counter"); r.incrby("counter", 10)
    r.exists("user:1:name", "counter", "nope")
    r.lpush("mylist", "a", "b", "c")
    for f in (lambda: r.get("mylist"),                       # WRONGTYPE
              lambda: r.incr("user:1:name"),                  # ERR value is not an integer
              lambda: r.execute_command("NOSUCHCOMMAND", "x"),
              lambda: r.execute_command("SET", "onlykey")):   # ERR wrong number of arguments
        try: f()
        except redis.ResponseError: pass
    r.config_get("maxmemory"); r.config_get("save")
    try: r.execute_command("CLIENT", "SETINFO", "LIB-NAME", "wiresift-testgen")  # 7.0: unknown subcommand
    except redis.ResponseError: pass
    r.execute_command("CLIENT", "GETNAME")
    r.set("binary", bytes(range(256)))
    r.get("binary")
    r.delete("user:1:name", "counter", "mylist"); r.ttl("binary"); r.ping()
    r.close()
    x = Raw()
    x.send(b"PING\r\n"); x.read()
    x.send(b'SET inline "quoted value with spaces"\r\n'); x.read()
    x.send(b"GET inline\r\n"); x.read()
    x.send(b"*1\r\n$4\r\nPING\r\n"); x.read()
    x.send(b"QUIT\r\n"); x.read(); x.close()

def pipeline():
    r = R()
    p = r.pipeline(transaction=False)
    for i in range(100):
        k = "pipe:%03d" % i
        [lambda: p.set(k, "value-%03d" % i), lambda: p.get(k), lambda: p.incr("pipe:counter"),
         lambda: p.rpush("pipe:list", i)][i % 4]()
    p.execute()
    r.close()

def multi():
    r = R()
    r.set("m:str", "x")
    p = r.pipeline(transaction=True)          # MULTI ... EXEC, one error inside EXEC
    p.set("m:a", 1).incr("m:a").lpush("m:str", "boom").get("m:a")
    try: p.execute()
    except redis.ResponseError: pass
    r.close()
    x = Raw()
    x.cmd("MULTI"); x.cmd("SET", "m:b", "2"); x.cmd("NOSUCHCMD", "arg"); x.cmd("EXEC")  # EXECABORT
    x.cmd("MULTI"); x.cmd("SET", "m:c", "3"); x.cmd("DISCARD")
    x.cmd("WATCH", "m:w"); x.cmd("MULTI"); x.cmd("INCR", "m:w")
    y = Raw(); y.cmd("SET", "m:w", "100"); y.close()                                   # breaks WATCH
    x.cmd("EXEC")                                                                        # -> nil array
    x.cmd("EXEC")                                                                        # ERR EXEC without MULTI
    x.close()

def resp3():
    r = R(protocol=3)
    r.hset("h3", mapping={"field1": "v1", "field2": "v2", "n": "3"})
    r.hgetall("h3")
    r.sadd("s3", "x", "y", "z"); r.smembers("s3")
    r.zadd("z3", {"a": 1.5, "b": 2.25}); r.zscore("z3", "b"); r.zrange("z3", 0, -1, withscores=True)
    r.close()
    x = Raw()
    x.cmd("HELLO", "3")
    for t in ("attrib", "bignum", "true", "false", "double", "verbatim", "null", "map", "set", "push"):
        x.cmd("DEBUG", "PROTOCOL", t)
    x.cmd("EVAL", "redis.setresp(3); return {true, false, {double=3.5}}", "0")
    x.cmd("CLIENT", "TRACKING", "on")
    x.cmd("SET", "tracked", "1"); x.cmd("GET", "tracked")
    y = Raw(); y.cmd("SET", "tracked", "2"); y.close()     # -> >invalidate push to x
    time.sleep(0.1)
    x.read()
    x.cmd("PING")
    x.close()

def pubsub():
    sub = R()
    ps = sub.pubsub()
    ps.subscribe("ch1", "ch2"); ps.psubscribe("news.*")
    x = Raw(); x.cmd("HELLO", "3"); x.cmd("SUBSCRIBE", "ch1")   # RESP3 subscriber: > pushes
    def drain(n=10):
        for _ in range(n):
            if ps.get_message(timeout=0.05) is None: break
    drain()
    pub = R()
    pub.publish("ch1", "hello ch1"); pub.publish("ch2", "hello ch2")
    pub.publish("news.tech", "pattern message"); pub.publish("nobody", "unheard")
    time.sleep(0.1); drain(); x.read()
    x.cmd("PING")                                              # allowed while subscribed in RESP3
    ps.unsubscribe("ch1"); drain()
    pub.publish("ch2", "second for ch2"); time.sleep(0.1); drain(); x.read()
    ps.unsubscribe(); ps.punsubscribe(); drain()
    ps.close(); pub.close(); sub.close(); x.close()

def writes(seconds):
    r = R()
    end = time.time() + seconds; i = 0
    while time.time() < end:
        r.set("repl:%d" % i, "v%d" % i); r.incr("repl:counter")
        if i % 5 == 0: r.lpush("repl:list", i)
        i += 1; time.sleep(0.05)
    r.close()

def preload():
    r = R(); r.flushall()
    p = r.pipeline(transaction=False)
    for i in range(300): p.set("pre:%03d" % i, "preloaded-value-%03d" % i)
    p.hset("pre:hash", mapping={"a": "1", "b": "2"}); p.execute(); r.close()

def bigvalue():
    r = R()
    v = bytearray()
    i = 0
    while len(v) < 1000000:
        v += b"big value line %08d 0123456789abcdefghijklmnopqrstuvwxyz\n" % i; i += 1
    r.set("big:1mb", bytes(v[:1000000]))
    assert len(r.get("big:1mb")) == 1000000
    r.delete("big:1.5mb"); r.setrange("big:1.5mb", 1499999, "!")
    assert len(r.get("big:1.5mb")) == 1500000
    r.strlen("big:1.5mb"); r.close()

def midstream(seconds):
    r = R(); r.ping()
    print("connected", flush=True)
    end = time.time() + seconds; i = 0
    while time.time() < end:
        r.set("tick", i); r.get("tick"); r.incr("ticks"); i += 1; time.sleep(0.02)
    r.close()

def auth():
    x = Raw(6390)
    x.cmd("GET", "k")                                # NOAUTH
    x.cmd("AUTH", "not-the-password")                # WRONGPASS
    x.cmd("AUTH", "s3cr3t-pw-77"); x.cmd("SET", "k", "v"); x.cmd("GET", "k"); x.close()
    y = Raw(6390); y.cmd("HELLO", "3", "AUTH", "default", "s3cr3t-pw-77"); y.cmd("GET", "k"); y.close()
    r = R(6390, password="s3cr3t-pw-77"); r.incr("n"); r.close()   # redis-py: AUTH s3cr3t-pw-77

def monitor_load():
    r = R()
    for i in range(10):
        r.set("mon:%d" % i, "value %d" % i); r.get("mon:%d" % i)
    r.execute_command("CLIENT", "LIST"); r.hset("mon:h", "f", "v"); r.close()

def nonstd():
    r = R(7101)
    r.set("k", "on port 7101"); r.get("k"); r.incr("c"); r.hset("h", mapping={"a": "1"})
    r.hgetall("h"); r.ping(); r.close()

f = sys.argv[1]
args = [float(a) for a in sys.argv[2:]]
globals()[f](*args)
EOF

# ONLY="lossy bigvalue" bash testdata/gen/resp.sh  regenerates only those captures
want() { [[ -z ${ONLY:-} || " $ONLY " == *" $1 "* ]]; }
DRIVE=(timeout 120 ip netns exec "$NS_CLI" python3 "$TMP/drive.py")
CLI=(timeout 60 ip netns exec "$NS_CLI" redis-cli -h "$SRV")

cap() { ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/$1" tcp; }
done_cap() { ns_capture_stop "$OUT/$1"; }

if want plain; then
echo "== plain.pcap" >&2
cap plain.pcap
"${DRIVE[@]}" plain
"${CLI[@]}" SET cli:key "set by redis-cli" >/dev/null
"${CLI[@]}" GET cli:key >/dev/null
"${CLI[@]}" DEL cli:key >/dev/null
done_cap plain.pcap
fi

if want pipeline; then
echo "== pipeline.pcap" >&2
cap pipeline.pcap
"${DRIVE[@]}" pipeline
{ for i in $(seq 1 99); do printf 'SET pipe:cli:%d %d\n' "$i" "$i"; done; echo "INCR pipe:cli:key-that-is-text"; } |
    sed 's/$/\r/' >"$TMP/pipe.txt"
"${CLI[@]}" SET pipe:cli:key-that-is-text abc >/dev/null
# --pipe exits 1 because the last command fails (on purpose); check it got all 100 replies
"${CLI[@]}" --pipe <"$TMP/pipe.txt" >"$TMP/pipe.out" 2>&1 || true
grep -q "replies: 100" "$TMP/pipe.out" || { cat "$TMP/pipe.out" >&2; exit 1; }
done_cap pipeline.pcap
fi

if want multi; then
echo "== multi.pcap" >&2
cap multi.pcap
"${DRIVE[@]}" multi
done_cap multi.pcap
fi

if want resp3; then
echo "== resp3.pcap" >&2
cap resp3.pcap
"${DRIVE[@]}" resp3
done_cap resp3.pcap
fi

if want pubsub; then
echo "== pubsub.pcap" >&2
cap pubsub.pcap
"${DRIVE[@]}" pubsub
done_cap pubsub.pcap
fi

if want replication; then
for mode in disk diskless; do
    name=replication.pcap; [[ $mode == diskless ]] && name=replication-diskless.pcap
    echo "== $name" >&2
    "${DRIVE[@]}" preload
    ip netns exec "$NS_SRV" redis-cli CONFIG SET repl-diskless-sync "$([[ $mode == diskless ]] && echo yes || echo no)" >/dev/null
    ip netns exec "$NS_SRV" redis-cli CONFIG SET repl-diskless-sync-delay 0 >/dev/null
    ip netns exec "$NS_SRV" redis-cli CONFIG SET repl-ping-replica-period 1 >/dev/null
    ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/$name" tcp port 6379
    rm -rf "$TMP/r6380"; mkdir -p "$TMP/r6380"
    ip netns exec "$NS_CLI" timeout 60 redis-server --port 6380 --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$TMP/r6380" --logfile "$TMP/r6380/log" --replicaof "$SRV" 6379 --daemonize no &
    REPL=$!; ns_track $REPL
    for _ in $(seq 1 100); do
        ip netns exec "$NS_CLI" redis-cli -p 6380 INFO replication 2>/dev/null | grep -q 'master_link_status:up' && break
        sleep 0.1
    done
    "${DRIVE[@]}" writes 3
    sleep 1.2          # one more REPLCONF ACK / PING round
    ip netns exec "$NS_CLI" redis-cli -p 6380 DBSIZE >&2
    done_cap "$name"
    kill $REPL; wait $REPL 2>/dev/null || true
done
fi

if want bigvalue; then
echo "== bigvalue.pcap (lo in $NS_SRV)" >&2
ns_capture_start "$NS_SRV" lo "$OUT/bigvalue.pcap" tcp port 6379
DRIVE_HOST=127.0.0.1 timeout 60 ip netns exec "$NS_SRV" python3 "$TMP/drive.py" bigvalue
ns_capture_stop "$OUT/bigvalue.pcap"
fi

if want lossy; then
echo "== lossy.pcap + lossy-client.pcap" >&2
for dir in dport sport; do
    ns_wire_drop_random 5 tcp $dir 6379 tcp flags \& \(syn\|fin\|rst\) == 0 ip length \> 56
done
# the same traffic from both ends: at the server (request segments lost on the wire are absent,
# reply segments appear twice) and at the client (the other way round)
ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/lossy.pcap" tcp
ns_capture_start "$NS_CLI" "$NS_CLI_IF" "$OUT/lossy-client.pcap" tcp
timeout 120 ip netns exec "$NS_CLI" redis-benchmark -h "$SRV" -q -n 1500 -P 16 -c 4 -d 128 \
    -t set,get,incr,lpush 2>&1 | tr '\r' '\n' | grep -v -e 'rps=' -e '^ *$' >&2
ns_capture_stop "$OUT/lossy.pcap"
ns_capture_stop "$OUT/lossy-client.pcap"
ns_wire_counters; ns_wire_flush
fi

if want midstream; then
echo "== midstream.pcap" >&2
"${DRIVE[@]}" midstream 3 >"$TMP/mid.out" & MID=$!
for _ in $(seq 1 100); do grep -q connected "$TMP/mid.out" && break; sleep 0.05; done
sleep 1
cap midstream.pcap
wait $MID
done_cap midstream.pcap
fi

if want auth; then
echo "== auth.pcap" >&2
cap auth.pcap
"${DRIVE[@]}" auth
timeout 20 ip netns exec "$NS_CLI" redis-cli -h "$SRV" -p 6390 -a s3cr3t-pw-77 --no-auth-warning GET k >/dev/null
done_cap auth.pcap
fi

if want monitor; then
echo "== monitor.pcap" >&2
cap monitor.pcap
timeout 5 ip netns exec "$NS_CLI" redis-cli -h "$SRV" MONITOR >"$TMP/monitor.out" & MON=$!
sleep 0.3
"${DRIVE[@]}" monitor_load
sleep 0.3
kill -INT $MON 2>/dev/null || true; wait $MON 2>/dev/null || true
done_cap monitor.pcap
fi

if want nonstd-port; then
echo "== nonstd-port.pcap" >&2
cap nonstd-port.pcap
"${DRIVE[@]}" nonstd
done_cap nonstd-port.pcap
fi

echo "resp.sh: done, captures in $OUT" >&2
