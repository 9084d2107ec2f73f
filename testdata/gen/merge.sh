#!/usr/bin/env bash
# testdata/gen/merge.sh — rotated and overlapping captures for the several-files-as-one tests
# (tests/parallel.rs). Needs editcap and tshark (Debian's wireshark-common / tshark).
#
#   bash testdata/gen/merge.sh
#
# Makes, from committed captures:
# - testdata/merge/rotated/lossy_NNNNN_*.pcap: testdata/resp/lossy.pcap cut every 400 packets
#   with `editcap -c 400` (as tcpdump -C/-G rotation would); connections cross the file
#   boundaries, and the lossy run's retransmissions and holes cross them too.
# - testdata/merge/hosts/{a,b}.pcap: testdata/smtp/pipelining.pcap and testdata/resp/pipeline.pcap
#   (two captures "from two hosts", whose time ranges are shifted onto each other with
#   `editcap -t` so that they overlap), and testdata/merge/hosts-merged.pcap, mergecap's
#   chronological merge of the two: the reference.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=testdata/merge
rm -rf "$out"
mkdir -p "$out/rotated" "$out/hosts"
editcap -F pcap -c 400 testdata/resp/lossy.pcap "$out/rotated/lossy.pcap"
# Shift b's first packet to 1 ms after a's, so the two files interleave.
ta=$(tshark -r testdata/smtp/pipelining.pcap -T fields -e frame.time_epoch -c 1)
tb=$(tshark -r testdata/resp/pipeline.pcap -T fields -e frame.time_epoch -c 1)
shift=$(python3 -c "print(f'{($ta - $tb) + 0.001:.6f}')")
cp testdata/smtp/pipelining.pcap "$out/hosts/a.pcap"
editcap -F pcap -t "$shift" testdata/resp/pipeline.pcap "$out/hosts/b.pcap"
# The reference for the merge: mergecap's chronological merge of the two.
mergecap -F pcap -w "$out/hosts-merged.pcap" "$out/hosts/a.pcap" "$out/hosts/b.pcap"
ls -l "$out" "$out"/*/
