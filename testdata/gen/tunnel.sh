#!/usr/bin/env bash
# testdata/gen/tunnel.sh — make the proxy tunnel captures in testdata/tunnel/.
#
# Usage (root, from the repo root):  bash testdata/gen/tunnel.sh [OUTDIR]  (default testdata/tunnel)
# Needs: redis-server (Debian), tinyproxy (Debian), dante-server (Debian, `danted`), python3 with
# redis-py and aiosmtpd (pip-installed if missing), iproute2, tcpdump, tshark, ethtool (optional).
#
# Two network namespaces (prefix wstu, see netns.sh): the server namespace (10.77.0.1) runs a
# real redis-server on 6379, the aiosmtpd test server (testdata/gen/smtp/server.py) on 2525, and
# the proxies:
#   tinyproxy 8888 (HTTP CONNECT), tinyproxy 8889 (BasicAuth alice / pr0xy-pw),
#   danted 1080 (SOCKS4, SOCKS4a, SOCKS5 without authentication),
#   danted 1081 (SOCKS5 user/password, RFC 1929: a system user wstuproxy / s0cks-pw made for the
#   run and removed after it).
# The client namespace (10.77.0.2) runs testdata/gen/tunnel/client.py: the same redis-py session
# (FLUSHALL first, so every run gets the same replies) and the same smtplib session (two mails,
# subjects Hello1! and Hello2!, the second with a ~9 KB base64 attachment and two recipients),
# directly or through a proxy. The proxies reach the servers inside the server namespace (not
# captured); the captures are taken on the server's veth, so they hold the client <-> proxy
# legs. Every capture gets a freshly started SMTP server (its replies count messages), so the
# SMTP replies inside every tunnel are the same as in direct.pcap.
#
#   direct.pcap             redis-py and smtplib straight to the servers (the reference run)
#   direct-client.pcap      direct.pcap filtered to the client's packets (tshark -Y ip.src==10.77.0.2)
#   direct-server.pcap      direct.pcap filtered to the servers' packets (ip.src==10.77.0.1)
#   http-connect.pcap       both through tinyproxy 8888 (CONNECT 10.77.0.1:6379 / :2525)
#   http-connect-auth.pcap  tinyproxy 8889: a CONNECT without credentials (407), then both with
#                           Proxy-Authorization: Basic
#   socks5.pcap             both through danted 1080, SOCKS5 without authentication
#   socks5-auth.pcap        danted 1081: a wrong password (refused), then both with user/password
#   socks4.pcap             both through danted 1080 with SOCKS4, then a SOCKS4a request (host
#                           name sent as a name) that dante refuses (91)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
OUT=${1:-testdata/tunnel}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
GEN="$REPO/testdata/gen"
source "$GEN/netns.sh"

log() { echo "[tunnel.sh] $*" >&2; }
for tool in redis-server tinyproxy danted tcpdump tshark python3 ip; do
    command -v "$tool" >/dev/null || { log "missing $tool (apt-get install ${tool/danted/dante-server})"; exit 1; }
done
python3 -c 'import redis, aiosmtpd' 2>/dev/null || timeout 300 pip install --quiet redis aiosmtpd

TMP=$(mktemp -d /tmp/wstu-tunnel.XXXXXX)
chmod 777 "$TMP"
SMTP_PID=""
PROXY_USER=wstuproxy
cleanup() {
    [[ -n $SMTP_PID ]] && { kill "$SMTP_PID" 2>/dev/null || true; wait "$SMTP_PID" 2>/dev/null || true; }
    ns_cleanup || true
    if id "$PROXY_USER" >/dev/null 2>&1; then userdel "$PROXY_USER" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

ns_setup wstu
S=$NS_SRV_IP4

# --- servers --------------------------------------------------------------------------------
ip netns exec "$NS_SRV" timeout 900 redis-server --bind "$S" --port 6379 --save '' --appendonly no \
    --protected-mode no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
ns_track $!
ns_wait_port "$NS_SRV" 6379

start_smtp() {
    if [[ -n $SMTP_PID ]]; then kill "$SMTP_PID" 2>/dev/null || true; wait "$SMTP_PID" 2>/dev/null || true; fi
    local j
    for j in $(seq 1 100); do
        ns_srv ss -Hltn "sport = :2525" | grep -q . || break
        sleep 0.1
    done
    : >"$TMP/smtp.log"
    ip netns exec "$NS_SRV" timeout 900 python3 -u "$GEN/smtp/server.py" --host "$S" --port 2525 >"$TMP/smtp.log" 2>&1 &
    SMTP_PID=$!
    local i
    for i in $(seq 1 100); do grep -q '^READY' "$TMP/smtp.log" && return 0; sleep 0.1; done
    cat "$TMP/smtp.log" >&2; log "SMTP server did not start"; return 1
}

# --- proxies --------------------------------------------------------------------------------
tinyproxy_conf() {   # PORT [BasicAuth line]
    cat <<EOF
User nobody
Group nogroup
Port $1
Listen $S
Timeout 60
LogFile "$TMP/tinyproxy-$1.log"
LogLevel Info
PidFile "$TMP/tinyproxy-$1.pid"
MaxClients 16
Allow 10.77.0.0/24
ConnectPort 6379
ConnectPort 2525
DisableViaHeader Yes
${2:-}
EOF
}
tinyproxy_conf 8888 >"$TMP/tinyproxy-8888.conf"
tinyproxy_conf 8889 "BasicAuth alice pr0xy-pw" >"$TMP/tinyproxy-8889.conf"
for p in 8888 8889; do
    ip netns exec "$NS_SRV" timeout 900 tinyproxy -d -c "$TMP/tinyproxy-$p.conf" >"$TMP/tinyproxy-$p.out" 2>&1 &
    ns_track $!
    ns_wait_port "$NS_SRV" "$p"
done

useradd -M -s /usr/sbin/nologin "$PROXY_USER"
echo "$PROXY_USER:s0cks-pw" | chpasswd
danted_conf() {   # PORT METHOD
    cat <<EOF
logoutput: $TMP/danted-$1.log
internal: $S port = $1
external: $S
socksmethod: $2
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
    from: 10.77.0.0/24 to: 0.0.0.0/0
}
socks pass {
    from: 10.77.0.0/24 to: 0.0.0.0/0
    command: connect
}
EOF
}
danted_conf 1080 none >"$TMP/danted-1080.conf"
danted_conf 1081 username >"$TMP/danted-1081.conf"
for p in 1080 1081; do
    ip netns exec "$NS_SRV" timeout 900 danted -f "$TMP/danted-$p.conf" -p "$TMP/danted-$p.pid" >"$TMP/danted-$p.out" 2>&1 &
    ns_track $!
    ns_wait_port "$NS_SRV" "$p"
done

# --- captures -------------------------------------------------------------------------------
client() { ns_cli timeout 60 python3 "$GEN/tunnel/client.py" "$@"; }

capture() {   # NAME: start a fresh SMTP server and the capture
    start_smtp
    ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/$1.pcap" tcp
}
done_capture() {
    ns_capture_stop "$OUT/$1.pcap"
    log "$1.pcap: $(stat -c %s "$OUT/$1.pcap") bytes"
}

capture direct
client resp "$S" 6379 --via direct
client smtp "$S" 2525 --via direct
done_capture direct
tshark -r "$OUT/direct.pcap" -Y "ip.src==$NS_CLI_IP4" -w "$OUT/direct-client.pcap" 2>/dev/null
tshark -r "$OUT/direct.pcap" -Y "ip.src==$S" -w "$OUT/direct-server.pcap" 2>/dev/null

capture http-connect
client resp "$S" 6379 --via http --proxy "$S:8888"
client smtp "$S" 2525 --via http --proxy "$S:8888"
done_capture http-connect

capture http-connect-auth
client resp "$S" 6379 --via http --proxy "$S:8889" --expect-fail
client resp "$S" 6379 --via http --proxy "$S:8889" --user alice --password pr0xy-pw
client smtp "$S" 2525 --via http --proxy "$S:8889" --user alice --password pr0xy-pw
done_capture http-connect-auth

capture socks5
client resp "$S" 6379 --via socks5 --proxy "$S:1080"
client smtp "$S" 2525 --via socks5 --proxy "$S:1080"
done_capture socks5

capture socks5-auth
client resp "$S" 6379 --via socks5 --proxy "$S:1081" --user "$PROXY_USER" --password wrong-pw --expect-fail
client resp "$S" 6379 --via socks5 --proxy "$S:1081" --user "$PROXY_USER" --password s0cks-pw
client smtp "$S" 2525 --via socks5 --proxy "$S:1081" --user "$PROXY_USER" --password s0cks-pw
done_capture socks5-auth

capture socks4
client resp "$S" 6379 --via socks4 --proxy "$S:1080"
client smtp "$S" 2525 --via socks4 --proxy "$S:1080"
# dante refuses SOCKS4a (91, it resolves no names for v4): the attempt stays in the capture.
client smtp "$S" 2525 --via socks4a --proxy "$S:1080" --expect-fail
done_capture socks4

log "done: $(du -ch "$OUT"/*.pcap | tail -1)"
