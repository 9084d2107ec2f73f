# shellcheck shell=bash
# testdata/gen/netns.sh — sourceable helper library for the capture generators.
#
# Builds two network namespaces, a "server" and a "client", joined by a veth pair, so real
# TCP traffic (with real loss and real retransmissions) can be produced and captured without
# touching the host network. Source it from a generator script:
#
#     set -euo pipefail
#     source "$(dirname "$0")/netns.sh"
#     ns_setup smtp                 # creates namespaces smtp-srv / smtp-cli
#     trap ns_cleanup EXIT          # kills tracked processes, stops captures, deletes namespaces
#     ns_srv my-server --port 25 &  # run something in the server namespace ...
#     ns_track $!                   # ... and have ns_cleanup kill it
#     ns_capture_start "$NS_SRV" "$NS_SRV_IF" out.pcap   # tcpdump -s 0 on the veth, waits until listening
#     ns_cli my-client 10.77.0.1 25
#     ns_capture_stop out.pcap      # SIGINT + wait, so the pcap is complete
#
# Addresses (override by setting the variables before ns_setup):
#     server  NS_SRV_IP4=10.77.0.1  NS_SRV_IP6=fd77::1   interface NS_SRV_IF=veth-s   namespace <prefix>-srv
#     client  NS_CLI_IP4=10.77.0.2  NS_CLI_IP6=fd77::2   interface NS_CLI_IF=veth-c   namespace <prefix>-cli
# IPv6 addresses are added with `nodad` so they are usable immediately.
# Each namespace has its own interface names, so several prefixes may exist at the same time.
#
# Offloads: ns_setup turns TSO/GSO/GRO (and checksum offload, so captured checksums are real)
# off on both veth ends with ethtool (`apt-get install ethtool` if missing; without it a warning
# is printed and segments in a capture may be larger than the MTU), so captures show
# wire-sized segments (MTU NS_MTU, default 1500).
#
# Loss: this kernel has no sch_netem (`tc qdisc ... netem` fails with "Specified qdisc kind is
# unknown"), so loss is made with nftables. Real wire loss needs `ns_setup PREFIX wire`, which puts
# a bridge namespace PREFIX-mid between client and server; its forward chain drops frames:
#   ns_wire_drop_random PCT MATCH...   drop PCT % of frames matching MATCH (nft syntax)
#   ns_wire_drop_once MATCH...         drop only the first frame matching MATCH (e.g. a payload
#                                      marker with a raw payload expression `@th,256,64 0x...`)
#   ns_wire_drop_match MATCH...        drop every matching frame
#   ns_wire_counters / ns_wire_flush   print counters (how many were dropped) / remove the rules
# Capture on the RECEIVER's veth = the dropped segments are absent (retransmissions,
# out-of-order, SACK visible); on the SENDER's veth = originals and retransmitted duplicates.
# ns_drop_random/ns_drop_match NS HOOK ... drop inside an endpoint namespace instead; note that a
# drop in the sender's own output hook is NOT wire loss (its TCP sees the error and resends).
# Segments are wire-sized: gso_max_segs 1 on every veth (TCP builds GSO super-packets otherwise,
# which netfilter would see as one packet) and GRO off.
#
# ns_sysctl NS key=value ...             per-namespace sysctls (e.g. net.ipv4.tcp_sack=0)
#
# All functions are safe to call repeatedly; ns_setup first removes namespaces left over from an
# earlier (aborted) run with the same prefix.

NS_SRV_IP4=${NS_SRV_IP4:-10.77.0.1}
NS_CLI_IP4=${NS_CLI_IP4:-10.77.0.2}
NS_SRV_IP6=${NS_SRV_IP6:-fd77::1}
NS_CLI_IP6=${NS_CLI_IP6:-fd77::2}
NS_SRV_IF=${NS_SRV_IF:-veth-s}
NS_CLI_IF=${NS_CLI_IF:-veth-c}
NS_MTU=${NS_MTU:-1500}
NS_SRV=""
NS_CLI=""
NS_MID=""
NS_PIDS=()          # processes ns_cleanup kills (ns_track)
declare -gA NS_CAPS=()   # pcap file -> tcpdump pid

ns_log() { echo "[netns] $*" >&2; }

# ns_setup PREFIX [wire] — (re)create namespaces PREFIX-srv and PREFIX-cli joined by a veth pair.
# With "wire" (or NS_WIRE=1) a third namespace PREFIX-mid holds a bridge between them:
#   PREFIX-srv veth-s <-> ws-s [br0 in PREFIX-mid] ws-c <-> veth-c PREFIX-cli
# Same addresses, same interface names in srv/cli; the ns_wire_drop_* functions drop frames in
# the bridge, i.e. on the "wire", where neither endpoint's TCP stack learns about it.
ns_setup() {
    local prefix=${1:?ns_setup PREFIX [wire]}
    local wire=${2:-}
    [[ ${NS_WIRE:-0} == 1 ]] && wire=wire
    NS_SRV="${prefix}-srv"
    NS_CLI="${prefix}-cli"
    NS_MID="${prefix}-mid"
    ns_teardown
    ip netns add "$NS_SRV"
    ip netns add "$NS_CLI"
    if [[ $wire == wire ]]; then
        ip netns add "$NS_MID"
        ip -n "$NS_MID" link set lo up
        ip -n "$NS_MID" link add br0 type bridge stp_state 0 forward_delay 0
        ip link add "$NS_SRV_IF" netns "$NS_SRV" mtu "$NS_MTU" type veth peer name ws-s netns "$NS_MID" mtu "$NS_MTU"
        ip link add "$NS_CLI_IF" netns "$NS_CLI" mtu "$NS_MTU" type veth peer name ws-c netns "$NS_MID" mtu "$NS_MTU"
        local p
        for p in ws-s ws-c; do
            ip -n "$NS_MID" link set "$p" master br0
            ip -n "$NS_MID" link set "$p" up
            ns_offloads_off "$NS_MID" "$p"
        done
        ip -n "$NS_MID" link set br0 up
        ns_offloads_off "$NS_MID" br0
    else
        NS_MID=""
        ip link add "$NS_SRV_IF" netns "$NS_SRV" mtu "$NS_MTU" type veth \
            peer name "$NS_CLI_IF" netns "$NS_CLI" mtu "$NS_MTU"
    fi
    local ns ifc ip4 ip6
    for ns in "$NS_SRV" "$NS_CLI"; do
        if [[ $ns == "$NS_SRV" ]]; then ifc=$NS_SRV_IF ip4=$NS_SRV_IP4 ip6=$NS_SRV_IP6
        else ifc=$NS_CLI_IF ip4=$NS_CLI_IP4 ip6=$NS_CLI_IP6; fi
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$ip4/24" dev "$ifc"
        ip -n "$ns" addr add "$ip6/64" dev "$ifc" nodad
        ip -n "$ns" link set "$ifc" up
        ns_offloads_off "$ns" "$ifc"
    done
    # connectivity check (no ping here): a throw-away TCP listener on port 7 in the server,
    # connected to over IPv4 and IPv6 from the client, retried for up to 5 s.
    ip netns exec "$NS_SRV" timeout 10 python3 -c '
import socket
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("::", 7)); s.listen(4)
for _ in range(2): s.accept()[0].close()' &
    local chk=$!
    ip netns exec "$NS_CLI" timeout 10 python3 -c '
import socket, sys, time
for host in sys.argv[1:]:
    for i in range(50):
        try: socket.create_connection((host, 7), timeout=1).close(); break
        except OSError: time.sleep(0.1)
    else: sys.exit("no TCP connectivity to %s" % host)' "$NS_SRV_IP4" "$NS_SRV_IP6" ||
        { ns_log "no connectivity between $NS_CLI and $NS_SRV"; kill $chk 2>/dev/null; return 1; }
    wait $chk || true
    ns_log "namespaces $NS_SRV ($NS_SRV_IP4, $NS_SRV_IP6) <-> $NS_CLI ($NS_CLI_IP4, $NS_CLI_IP6)${NS_MID:+ via bridge in $NS_MID}"
}

ns_offloads_off() {
    local ns=$1 ifc=$2
    # TCP always builds GSO super-packets and segments them after netfilter; with gso_max_segs 1
    # each skb is one MSS-sized segment, so nft drop rules act on single wire segments.
    ip -n "$ns" link set dev "$ifc" gso_max_segs 1 >/dev/null 2>&1 ||
        ns_log "warning: could not set gso_max_segs 1 on $ns/$ifc (nft drops may hit several segments)"
    if command -v ethtool >/dev/null 2>&1; then
        ip netns exec "$ns" ethtool -K "$ifc" tso off gso off gro off tx off rx off >/dev/null 2>&1 ||
            ip netns exec "$ns" ethtool -K "$ifc" tso off gso off gro off >/dev/null 2>&1 ||
            ns_log "warning: ethtool -K failed on $ns/$ifc"
    else
        ns_log "warning: ethtool missing (apt-get install ethtool); GRO/checksum offload stay on"
    fi
}

ns_srv() { ip netns exec "$NS_SRV" "$@"; }
ns_cli() { ip netns exec "$NS_CLI" "$@"; }
ns_track() { NS_PIDS+=("$@"); }

ns_sysctl() {
    local ns=$1; shift
    local kv
    for kv in "$@"; do ip netns exec "$ns" sysctl -qw "$kv"; done
}

# ns_wait_port NS PORT [ADDR] — wait (max 10 s) until something listens on TCP PORT in NS.
ns_wait_port() {
    local ns=$1 port=$2 i
    for i in $(seq 1 100); do
        if ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -q .; then return 0; fi
        sleep 0.1
    done
    ns_log "nothing listening on port $port in $ns"; return 1
}

# ns_capture_start NS IFACE FILE [tcpdump filter...] — start tcpdump -s 0 -B $NS_CAP_BUFFER_KB (default
# 32768 KiB, so bursts of 64 KB loopback frames are not dropped) writing pcap (microseconds),
# return once it is listening. NS may be "" for the host namespace (e.g. loopback captures).
ns_capture_start() {
    local ns=$1 ifc=$2 file=$3; shift 3
    local log="${file}.tcpdump.log"
    rm -f "$file" "$log"
    local -a pre=()
    [[ -n $ns ]] && pre=(ip netns exec "$ns")
    "${pre[@]}" tcpdump -i "$ifc" -s 0 -B "${NS_CAP_BUFFER_KB:-32768}" -U --immediate-mode -n -Z root -w "$file" "$@" 2>"$log" &
    local pid=$!
    NS_CAPS[$file]=$pid
    local i
    for i in $(seq 1 100); do
        if grep -q "listening on" "$log" 2>/dev/null; then sleep 0.2; return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; return 1; fi
        sleep 0.1
    done
    ns_log "tcpdump did not start"; cat "$log" >&2; return 1
}

# ns_capture_stop FILE — SIGINT the tcpdump writing FILE and wait for it (file complete).
ns_capture_stop() {
    local file=$1
    local pid=${NS_CAPS[$file]:-}
    [[ -z $pid ]] && return 0
    sleep 0.3
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset 'NS_CAPS[$file]'
    if [[ -f "${file}.tcpdump.log" ]]; then
        grep -E "packets (captured|dropped by kernel)" "${file}.tcpdump.log" | sed "s|^|[tcpdump $(basename "$file")] |" >&2 || true
        rm -f "${file}.tcpdump.log"
    fi
}

# nftables loss inside an endpoint namespace: table "inet wsdrop", one chain per hook.
# CAUTION: a drop in the SENDER's own output hook is not wire loss — the sender's TCP gets an
# error and simply sends the segment again later (no gap, no SACK). Use the receiver's input
# hook, or the wire functions below.
ns_nft_chain() {
    local ns=$1 hook=$2
    ip netns exec "$ns" nft add table inet wsdrop
    ip netns exec "$ns" nft add chain inet wsdrop "$hook" "{ type filter hook $hook priority 0; policy accept; }"
}
# ns_drop_random NS HOOK PCT MATCH... — e.g. ns_drop_random "$NS_SRV" input 7 tcp dport 9000
ns_drop_random() {
    local ns=$1 hook=$2 pct=$3; shift 3
    ns_nft_chain "$ns" "$hook"
    ip netns exec "$ns" nft add rule inet wsdrop "$hook" "$@" numgen random mod 100 '<' "$pct" counter drop
}
# ns_drop_match NS HOOK MATCH... — drop every packet matching MATCH.
ns_drop_match() {
    local ns=$1 hook=$2; shift 2
    ns_nft_chain "$ns" "$hook"
    ip netns exec "$ns" nft add rule inet wsdrop "$hook" "$@" counter drop
}
ns_nft_flush() { ip netns exec "$1" nft delete table inet wsdrop 2>/dev/null || true; }
ns_nft_counters() { ip netns exec "$1" nft list table inet wsdrop 2>/dev/null | grep -E 'counter' >&2 || true; }

# Wire loss (needs ns_setup PREFIX wire): bridge-family table "bridge wswire" in PREFIX-mid.
# A capture on the receiver's veth lacks the dropped frames; one on the sender's veth has them
# (and the retransmissions).
ns_wire_chain() {
    [[ -n $NS_MID ]] || { ns_log "wire drops need: ns_setup PREFIX wire"; return 1; }
    ip netns exec "$NS_MID" nft add table bridge wswire
    ip netns exec "$NS_MID" nft add chain bridge wswire wire "{ type filter hook forward priority 0; policy accept; }"
}
# ns_wire_drop_random PCT MATCH... — e.g. ns_wire_drop_random 7 tcp dport 9001 tcp flags \& \(syn\|fin\) == 0
ns_wire_drop_random() {
    local pct=$1; shift
    ns_wire_chain
    ip netns exec "$NS_MID" nft add rule bridge wswire wire "$@" numgen random mod 100 '<' "$pct" counter drop
}
# ns_wire_drop_once MATCH... — drop only the FIRST frame matching MATCH (a quota of 100 bytes is
# used up by that frame, so its retransmission passes). MATCH should select one small segment,
# e.g. a payload marker: tcp dport 9002 @th,256,64 0x48422d3030303230 ("HB-00020" after a 32-byte
# TCP header).
ns_wire_drop_once() {
    ns_wire_chain
    ip netns exec "$NS_MID" nft add rule bridge wswire wire "$@" quota until 100 bytes counter drop
}
# ns_wire_drop_match MATCH... — drop every frame matching MATCH.
ns_wire_drop_match() {
    ns_wire_chain
    ip netns exec "$NS_MID" nft add rule bridge wswire wire "$@" counter drop
}
ns_wire_flush() { [[ -n $NS_MID ]] && ip netns exec "$NS_MID" nft delete table bridge wswire 2>/dev/null || true; }
ns_wire_counters() { [[ -n $NS_MID ]] && ip netns exec "$NS_MID" nft list table bridge wswire 2>/dev/null | grep -E 'counter' >&2 || true; }

# ns_teardown — delete this prefix's namespaces (killing anything still running in them).
ns_teardown() {
    local ns pid
    for ns in "$NS_SRV" "$NS_CLI" "$NS_MID"; do
        [[ -z $ns ]] && continue
        if ip netns list | grep -qw -- "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
            sleep 0.1
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}

# ns_cleanup — for `trap ns_cleanup EXIT`: stop captures, kill tracked processes, teardown.
ns_cleanup() {
    local f pid
    for f in "${!NS_CAPS[@]}"; do ns_capture_stop "$f"; done
    for pid in "${NS_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${NS_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    NS_PIDS=()
    ns_teardown
}
