#!/usr/bin/env bash
# testdata/gen/hostile.sh — write the full-size hostile cases of issue #7 to testdata/large/
# (NOT committed, ~1.1 GB in all) for the end-to-end peak-RSS measurement:
#   hostile-resp-hole-framing.pcap  10^5 SETs of 1 KB behind a hole, a framing error per segment
#   hostile-resp-framing.pcap       40 MB of RESP framing errors
#   hostile-resp-no-replies.pcap    64 connections x 5 MB of pipelined SETs, never answered
#   hostile-ping-flows.pcap         10^6 flows, each a SYN and one segment of 14 PINGs
#   hostile-smtp-rcpt.pcap          one mail with 300 000 RCPT, each answered
#   hostile-holes.pcap              200 connections x 400 KB of GETs behind a hole, answered
# The generator is tests/hostile/mod.rs (the CI-scale cases run in tests/hostile_memory.rs).
# Then, e.g.: /usr/bin/time -v target/release/examples/dissect --threads 1 testdata/large/hostile-ping-flows.pcap >/dev/null
set -euo pipefail
cd "$(dirname "$0")/../.."
WIRESIFT_HOSTILE_FULL=1 cargo test --release --test hostile_memory write_full_size -- --nocapture
