#!/usr/bin/env bash
# testdata/gen/smtp.sh — regenerate the SMTP captures in testdata/smtp/.
#
# Run from the repo root as root:   bash testdata/gen/smtp.sh [NAME...]
# (no NAME = all captures; NAME = stem, e.g. `bash testdata/gen/smtp.sh bdat lossy`)
#
# Server: aiosmtpd (PyPI) wrapped by testdata/gen/smtp/server.py (adds PIPELINING/CHUNKING
# advertising, BDAT, a 550 for nobody@/reject@ recipients, AUTH account alice/Sm7p-s3cret!,
# STARTTLS, 554/421 greeting modes).
# Clients: swaks (Debian), Python smtplib and a raw-socket client (testdata/gen/smtp/client.py).
# Loopback captures use `tcpdump -i lo -s 0 'tcp port P'`; the lossy capture runs across three
# network namespaces of its own (ws-smtp-c -> ws-smtp-r -> ws-smtp-s, 10.78.0.0/24) with
# nftables random drops in the router, captured at the receiver (server) veth.
# After each capture, a golden file <stem>.tshark.tsv is written with tshark (see README.md).
#
# Needs: python3 + aiosmtpd (pip-installed if missing), swaks, tcpdump, tshark, openssl,
# iproute2, nftables, ethtool. Each step is bounded by `timeout`; everything started is
# stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO=$(pwd)
GEN="$REPO/testdata/gen/smtp"
OUT="$REPO/testdata/smtp"
mkdir -p "$OUT"

log() { echo "[smtp.sh] $*" >&2; }

for tool in python3 swaks tcpdump tshark openssl ip nft ethtool; do
    command -v "$tool" >/dev/null || { log "missing $tool (apt-get install $tool)"; exit 1; }
done
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    log "installing aiosmtpd from PyPI"
    timeout 300 pip install --quiet aiosmtpd
fi

WORK=$(mktemp -d /tmp/ws-smtp.XXXXXX)
SERVER_PID=""

stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    local rc=$?
    cap_stop_any || true
    stop_server || true
    ns_down || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server [ns_srv] --host H --port P [--mode M ...] — start server.py, wait for READY.
start_server() {
    local -a pre=()
    if [[ ${1:-} == ns_srv ]]; then pre=(ip netns exec "$NS_S"); shift; fi
    : >"$WORK/server.log"
    "${pre[@]}" timeout 300 python3 -u "$GEN/server.py" "$@" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 100); do
        grep -q '^READY' "$WORK/server.log" && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/server.log" >&2
    log "server did not start"; return 1
}

# run CMD... — a client, bounded in time, its transcript kept in $WORK/client.log.
run() { timeout 60 "$@" >>"$WORK/client.log" 2>&1 || { cat "$WORK/client.log" >&2; return 1; }; }
client() { run python3 "$GEN/client.py" "$@"; }
SWAKS=(swaks --helo client.wiresift.test --from alice@example.test --timeout 20)

# Captures: our own tcpdump wrapper rather than netns.sh's ns_capture_start, because without
# --immediate-mode tcpdump holds packets in its ring buffer for up to a second and loses them
# when stopped right after a short exchange (a loopback mail then yields 0 packets), and the
# default 2 MB buffer (-B) drops 64 KB loopback segments of the large attachment. A capture
# with kernel drops is an error.
CAP_PID=""
CAP_FILE=""
# cap_start_in NS IFACE FILE [filter...] — NS "" = host namespace; returns once listening.
cap_start_in() {
    local ns=$1 ifc=$2 file=$3; shift 3
    local -a pre=()
    [[ -n $ns ]] && pre=(ip netns exec "$ns")
    rm -f "$file"
    : >"$WORK/tcpdump.log"
    "${pre[@]}" timeout 600 tcpdump --immediate-mode -B 32768 -i "$ifc" -s 0 -U -n -Z root -w "$file" "$@" \
        2>"$WORK/tcpdump.log" &
    CAP_PID=$! CAP_FILE=$file
    local i
    for i in $(seq 1 100); do
        if grep -q "listening on" "$WORK/tcpdump.log"; then sleep 0.2; return 0; fi
        kill -0 "$CAP_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/tcpdump.log" >&2; log "tcpdump did not start"; return 1
}
# cap_stop_any — SIGINT (SIGTERM after 5 s if it was ignored) and wait: the file is complete.
cap_stop_any() {
    [[ -z $CAP_PID ]] && return 0
    sleep 0.5
    kill -INT "$CAP_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$CAP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$CAP_PID" 2>/dev/null || true
    wait "$CAP_PID" 2>/dev/null || true
    grep -E "packets captured" "$WORK/tcpdump.log" | sed "s|^|[tcpdump $(basename "$CAP_FILE")] |" >&2 || true
    local dropped
    dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$WORK/tcpdump.log")
    CAP_PID="" CAP_FILE=""
    if [[ -n $dropped && $dropped != 0 ]]; then log "tcpdump dropped $dropped packet(s): capture incomplete"; return 1; fi
}
cap_start() { cap_start_in "" lo "$OUT/$1.pcap" tcp port "$2"; }
cap_stop() { cap_stop_any; }

# golden STEM PORT — the tshark reference the Rust tests compare against.
golden() {
    local stem=$1 port=$2
    tshark -r "$OUT/$stem.pcap" -d "tcp.port==$port,smtp" -Y smtp -T fields -E separator=/t \
        -e tcp.stream -e frame.number -e smtp.req.command -e smtp.response.code \
        >"$OUT/$stem.tshark.tsv" 2>/dev/null
    local cmds replies retrans conns
    # several pipelined commands in one frame show up comma-joined in one row
    cmds=$(awk -F'\t' '$3!=""{n+=split($3,a,",")} END{print n+0}' "$OUT/$stem.tshark.tsv")
    replies=$(awk -F'\t' '$4!=""{n+=split($4,a,",")} END{print n+0}' "$OUT/$stem.tshark.tsv")
    conns=$(cut -f1 "$OUT/$stem.tshark.tsv" | sort -u | wc -l)
    retrans=$(tshark -r "$OUT/$stem.pcap" -Y tcp.analysis.retransmission 2>/dev/null | wc -l)
    log "$stem: $(stat -c %s "$OUT/$stem.pcap") bytes, $conns conn(s), $cmds command(s), $replies reply line(s), $retrans retransmission(s)"
}

# --------------------------------------------------------------------------- captures
gen_plain() {   # one mail via swaks, port 2525
    start_server --host 127.0.0.1 --port 2525
    cap_start plain 2525
    run "${SWAKS[@]}" --server 127.0.0.1:2525 --to bob@example.test \
        --header "Subject: plain swaks mail" --header "Message-Id: <plain1@wiresift.test>" \
        --body "Hello Bob, this is a plain mail sent by swaks."
    cap_stop plain; stop_server; golden plain 2525
}

gen_multi_rcpt() {   # five RCPT, nobody@ gets 550; smtplib then swaks; port 25
    start_server --host 127.0.0.1 --port 25
    cap_start multi-rcpt 25
    client multircpt 127.0.0.1 25
    run "${SWAKS[@]}" --server 127.0.0.1:25 \
        --to bob@example.test,reject-me@example.test,carol@example.test \
        --header "Subject: swaks three rcpt" --header "Message-Id: <multi2@wiresift.test>"
    cap_stop multi-rcpt; stop_server; golden multi-rcpt 25
}

gen_auth_plain() {   # AUTH PLAIN ok (swaks), bad password (swaks), 334 form (raw), smtplib; port 587
    start_server --host 127.0.0.1 --port 587
    cap_start auth-plain 587
    run "${SWAKS[@]}" --server 127.0.0.1:587 --to bob@example.test \
        --auth PLAIN --auth-user alice --auth-password 'Sm7p-s3cret!' \
        --header "Subject: auth plain ok" --header "Message-Id: <authp0@wiresift.test>"
    # wrong password: 535, swaks gives up (exit code 28), which is expected
    timeout 60 "${SWAKS[@]}" --server 127.0.0.1:587 --to bob@example.test \
        --auth PLAIN --auth-user alice --auth-password 'Sm7p-b4dpass!' >>"$WORK/client.log" 2>&1 || true
    client auth-plain-334 127.0.0.1 587
    client auth-plain-smtplib 127.0.0.1 587
    cap_stop auth-plain; stop_server; golden auth-plain 587
}

gen_auth_login() {   # AUTH LOGIN ok (swaks), bad password (swaks), cancel + initial-response (raw), smtplib
    start_server --host 127.0.0.1 --port 587
    cap_start auth-login 587
    run "${SWAKS[@]}" --server 127.0.0.1:587 --to bob@example.test \
        --auth LOGIN --auth-user alice --auth-password 'Sm7p-s3cret!' \
        --header "Subject: auth login ok" --header "Message-Id: <authl0@wiresift.test>"
    timeout 60 "${SWAKS[@]}" --server 127.0.0.1:587 --to bob@example.test \
        --auth LOGIN --auth-user alice --auth-password 'Sm7p-b4dpass!' >>"$WORK/client.log" 2>&1 || true
    client auth-login-cancel 127.0.0.1 587
    client auth-login-smtplib 127.0.0.1 587
    cap_stop auth-login; stop_server; golden auth-login 587
}

gen_auth_other() {   # CRAM-MD5 ok/bad (swaks), XOAUTH2 ok/bad (smtplib), unknown mechanisms + XOAUTH2 334 (raw); port 587
    start_server --host 127.0.0.1 --port 587 --extra-auth
    cap_start auth-other 587
    run "${SWAKS[@]}" --server 127.0.0.1:587 --to bob@example.test \
        --auth CRAM-MD5 --auth-user alice --auth-password 'Sm7p-s3cret!' \
        --header "Subject: auth cram-md5 ok" --header "Message-Id: <autho0@wiresift.test>"
    timeout 60 "${SWAKS[@]}" --server 127.0.0.1:587 --to bob@example.test \
        --auth CRAM-MD5 --auth-user alice --auth-password 'Sm7p-b4dpass!' >>"$WORK/client.log" 2>&1 || true
    client xoauth2 127.0.0.1 587
    client xoauth2-bad 127.0.0.1 587
    client auth-other-raw 127.0.0.1 587
    cap_stop auth-other; stop_server; golden auth-other 587
}

gen_starttls() {   # EHLO, STARTTLS, 220, TLS, encrypted EHLO/AUTH/MAIL; smtplib then swaks; port 587
    # Throwaway self-signed certificate, made now and deleted with $WORK (never committed).
    openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
    start_server --host 127.0.0.1 --port 587 --mode starttls --cert "$WORK/cert.pem" --key "$WORK/key.pem"
    cap_start starttls 587
    rm -f "$OUT/starttls.keys"
    client starttls 127.0.0.1 587 "$OUT/starttls.keys"
    run "${SWAKS[@]}" --server 127.0.0.1:587 --to carol@example.test --tls \
        --header "Subject: swaks over tls" --header "Message-Id: <tls2@wiresift.test>"
    cap_stop starttls; stop_server; golden starttls 587
}

gen_large_attachment() {   # ~1.8 MB binary attachment (base64 ~2.5 MB on the wire) via swaks; port 2525
    python3 -c 'import random,sys; r=random.Random(2525); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(1800000)))' \
        >"$WORK/attachment.bin"
    start_server --host 127.0.0.1 --port 2525
    cap_start large-attachment 2525
    run "${SWAKS[@]}" --server 127.0.0.1:2525 --to bob@example.test \
        --header "Subject: large attachment" --header "Message-Id: <large1@wiresift.test>" \
        --body "See the attached 1.8 MB file." \
        --attach-type application/octet-stream --attach-name blob.bin --attach @"$WORK/attachment.bin"
    cap_stop large-attachment; stop_server; golden large-attachment 2525
}

gen_dotstuff() {   # smtplib dot-stuffs body lines starting with '.'; port 25
    start_server --host 127.0.0.1 --port 25
    cap_start dotstuff 25
    client dotstuff 127.0.0.1 25
    cap_stop dotstuff; stop_server; golden dotstuff 25
}

gen_bdat() {   # raw client: BDAT, pipelined BDAT, BDAT 0 LAST, chunk split mid-line, BDAT error; port 2525
    start_server --host 127.0.0.1 --port 2525
    cap_start bdat 2525
    client bdat 127.0.0.1 2525
    cap_stop bdat; stop_server; golden bdat 2525
}

gen_pipelining() {   # raw client: pipelined MAIL/RCPT/RCPT/DATA, housekeeping verbs, lower case; port 25
    start_server --host 127.0.0.1 --port 25
    cap_start pipelining 25
    client pipelining 127.0.0.1 25
    cap_stop pipelining; stop_server; golden pipelining 25
}

gen_utf8() {   # smtplib: SMTPUTF8 envelope with non-ASCII addresses, then BODY=8BITMIME with 8-bit body; port 2525
    start_server --host 127.0.0.1 --port 2525
    cap_start utf8 2525
    client utf8 127.0.0.1 2525
    cap_stop utf8; stop_server; golden utf8 2525
}

gen_nonstd_port() {   # smtplib, one mail to port 2526
    start_server --host 127.0.0.1 --port 2526
    cap_start nonstd-port 2526
    client nonstd 127.0.0.1 2526
    cap_stop nonstd-port; stop_server; golden nonstd-port 2526
}

gen_greeting_reject() {   # 554 greeting (swaks, raw client) then 421 greeting (smtplib); port 25
    start_server --host 127.0.0.1 --port 25 --mode reject554
    cap_start greeting-reject 25
    timeout 60 "${SWAKS[@]}" --server 127.0.0.1:25 --to bob@example.test >>"$WORK/client.log" 2>&1 || true
    client reject554 127.0.0.1 25
    stop_server
    start_server --host 127.0.0.1 --port 25 --mode reject421
    client reject421 127.0.0.1 25
    cap_stop greeting-reject; stop_server; golden greeting-reject 25
}

# ----------------------------------------------------------------- namespaces (lossy)
# Three namespaces of our own, a router between client and server:
#   ws-smtp-c  c0 10.78.0.2/25   --  r0 10.78.0.1/25    ws-smtp-r (forwarding)
#   ws-smtp-r  r1 10.78.0.129/25 --  s0 10.78.0.130/25  ws-smtp-s
# Loss is made by nftables in the router's forward hook: a forwarded packet that is dropped is
# silently lost, like on a real path (a drop in the sender's own output hook is not: the sender's
# TCP sees the error and simply resends at once, so no gap ever reaches the wire).
# The capture is taken on the server's s0 (the receiver of the mail data).
# (testdata/gen/netns.sh builds two namespaces only, so it cannot give upstream loss.)
NS_C=ws-smtp-c NS_R=ws-smtp-r NS_S=ws-smtp-s
SRV_IP=10.78.0.130
ns_down() {
    local ns pid
    for ns in "$NS_C" "$NS_R" "$NS_S"; do
        ip netns list | grep -qw -- "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}
ns_up() {
    ns_down
    local ns
    for ns in "$NS_C" "$NS_R" "$NS_S"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
    ip link add c0 netns "$NS_C" type veth peer name r0 netns "$NS_R"
    ip link add r1 netns "$NS_R" type veth peer name s0 netns "$NS_S"
    ip -n "$NS_C" addr add 10.78.0.2/25 dev c0
    ip -n "$NS_R" addr add 10.78.0.1/25 dev r0
    ip -n "$NS_R" addr add 10.78.0.129/25 dev r1
    ip -n "$NS_S" addr add "$SRV_IP/25" dev s0
    local pair
    for pair in "$NS_C c0" "$NS_R r0" "$NS_R r1" "$NS_S s0"; do
        set -- $pair
        ip -n "$1" link set "$2" mtu 1500 up
        # wire-sized segments in the capture, real checksums
        ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1 ||
            log "warning: ethtool -K failed on $1/$2"
    done
    ip -n "$NS_C" route add default via 10.78.0.1
    ip -n "$NS_S" route add default via 10.78.0.129
    ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
    sleep 0.3   # (no ping here; the client's connect is the reachability test)
}

gen_lossy() {   # 3 mails (~300 KB bodies) client -> router (nft loss) -> server; captured at the server
    ns_up
    ip netns exec "$NS_R" nft -f - <<'NFT'
table inet wsloss {
    chain lossfwd {
        type filter hook forward priority 0; policy accept;
        # mail data client -> server: 3 % of data segments lost upstream of the capture
        tcp dport 25 ip length > 400 numgen random mod 100 < 3 counter drop
        # server -> client (replies, ACKs): 3 % lost downstream of the capture
        tcp sport 25 numgen random mod 100 < 3 counter drop
    }
}
NFT
    # 1 % of data segments dropped by the server's own input hook: the capture (taken before
    # the input hook) holds the segment AND the client's retransmission of it.
    ip netns exec "$NS_S" nft -f - <<'NFT'
table inet wsloss {
    chain lossin {
        type filter hook input priority 0; policy accept;
        tcp dport 25 ip length > 400 numgen random mod 100 < 1 counter drop
    }
}
NFT
    start_server ns_srv --host "$SRV_IP" --port 25
    cap_start_in "$NS_S" s0 "$OUT/lossy.pcap" tcp port 25
    run ip netns exec "$NS_C" timeout 120 python3 "$GEN/client.py" lossy "$SRV_IP" 25 3 300000
    cap_stop_any
    { ip netns exec "$NS_R" nft list ruleset | grep -E 'counter' | sed 's/^[[:space:]]*/router forward: /'
      ip netns exec "$NS_S" nft list ruleset | grep -E 'counter' | sed 's/^[[:space:]]*/server input:   /'
    } >"$OUT/lossy.nft-counters.txt"
    cat "$OUT/lossy.nft-counters.txt" >&2
    stop_server
    ns_down
    golden lossy 25
}

ALL=(plain multi-rcpt auth-plain auth-login auth-other starttls large-attachment dotstuff bdat pipelining
     utf8 nonstd-port greeting-reject lossy)
NAMES=("$@")
[[ ${#NAMES[@]} -eq 0 ]] && NAMES=("${ALL[@]}")
for name in "${NAMES[@]}"; do
    fn="gen_${name//-/_}"
    declare -F "$fn" >/dev/null || { log "unknown capture $name (known: ${ALL[*]})"; exit 2; }
    log "== $name"
    : >"$WORK/client.log"
    "$fn"
done
python3 "$GEN/counts.py" "$OUT" >/dev/null   # refresh the counts table in README.md
log "done: ${NAMES[*]}"
