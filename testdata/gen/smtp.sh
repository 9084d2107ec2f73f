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
# Loopback captures use `tcpdump -i lo -s 0 'tcp port P'`; the lossy capture runs between two
# network namespaces (ws-smtp-srv / ws-smtp-cli, 10.78.0.0/24) built by testdata/gen/netns.sh,
# with nftables random drops, captured at the receiver (server) veth.
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

# Distinct namespace names/addresses for this script (netns.sh appends -srv / -cli).
NS_SRV_IP4=10.78.0.1
NS_CLI_IP4=10.78.0.2
NS_SRV_IP6=fd78::1
NS_CLI_IP6=fd78::2
# shellcheck source=testdata/gen/netns.sh
source "$REPO/testdata/gen/netns.sh"

log() { echo "[smtp.sh] $*" >&2; }

for tool in python3 swaks tcpdump tshark openssl ip nft; do
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
    cap_stop_any
    stop_server
    ns_cleanup
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server [ns_srv] --host H --port P [--mode M ...] — start server.py, wait for READY.
start_server() {
    local -a pre=()
    if [[ ${1:-} == ns_srv ]]; then pre=(ip netns exec "$NS_SRV"); shift; fi
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
    cmds=$(awk -F'\t' '$3!=""' "$OUT/$stem.tshark.tsv" | wc -l)
    replies=$(awk -F'\t' '$4!=""' "$OUT/$stem.tshark.tsv" | wc -l)
    conns=$(cut -f1 "$OUT/$stem.tshark.tsv" | sort -u | wc -l)
    retrans=$(tshark -r "$OUT/$stem.pcap" -Y tcp.analysis.retransmission 2>/dev/null | wc -l)
    log "$stem: $(stat -c %s "$OUT/$stem.pcap") bytes, $conns conn(s), $cmds command frame(s), $replies reply frame(s), $retrans retransmission(s)"
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

gen_large_attachment() {   # ~1.9 MB binary attachment (base64 ~2.6 MB on the wire) via swaks; port 2525
    python3 -c 'import random,sys; r=random.Random(2525); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(1900000)))' \
        >"$WORK/attachment.bin"
    start_server --host 127.0.0.1 --port 2525
    cap_start large-attachment 2525
    run "${SWAKS[@]}" --server 127.0.0.1:2525 --to bob@example.test \
        --header "Subject: large attachment" --header "Message-Id: <large1@wiresift.test>" \
        --body "See the attached 1.9 MB file." \
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

gen_nonstd_port() {   # smtplib + swaks to port 2526
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

gen_lossy() {   # 3 mails (~300 KB bodies) between namespaces with nft random drops, captured at the server
    ns_setup ws-smtp
    # client -> server data segments: 3 % dropped at the client's output (the capture at the
    # server never sees them: gaps, out-of-order, SACK, retransmissions), 2 % dropped at the
    # server's input (the capture sees the segment AND its retransmission).
    ns_drop_random "$NS_CLI" output 3 tcp dport 25 ip length gt 400
    ns_drop_random "$NS_SRV" input 2 tcp dport 25 ip length gt 400
    # server -> client: 5 % of replies dropped at the server's output (retransmitted replies).
    ns_drop_random "$NS_SRV" output 5 tcp sport 25 tcp flags \& psh == psh
    start_server ns_srv --host "$NS_SRV_IP4" --port 25
    cap_start_in "$NS_SRV" "$NS_SRV_IF" "$OUT/lossy.pcap" tcp port 25
    run ip netns exec "$NS_CLI" timeout 120 python3 "$GEN/client.py" lossy "$NS_SRV_IP4" 25 3 300000
    cap_stop_any
    ns_nft_counters "$NS_CLI"; ns_nft_counters "$NS_SRV"
    stop_server
    ns_cleanup
    golden lossy 25
}

ALL=(plain multi-rcpt auth-plain auth-login starttls large-attachment dotstuff bdat pipelining
     nonstd-port greeting-reject lossy)
NAMES=("$@")
[[ ${#NAMES[@]} -eq 0 ]] && NAMES=("${ALL[@]}")
for name in "${NAMES[@]}"; do
    fn="gen_${name//-/_}"
    declare -F "$fn" >/dev/null || { log "unknown capture $name (known: ${ALL[*]})"; exit 2; }
    log "== $name"
    : >"$WORK/client.log"
    "$fn"
done
log "done: ${NAMES[*]}"
