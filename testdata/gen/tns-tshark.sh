#!/bin/sh
# Golden of tshark's TNS layer for the public TNS captures (../shared/pcaps/tns):
# one line per TNS PDU: capture, frame, tcp.srcport, type, version, compat_version, connect_data.
# Usage: testdata/gen/tns-tshark.sh > testdata/tns/tshark.tsv   (tshark 4.0, Debian bookworm)
#        testdata/gen/tns-tshark.sh testdata/tns > testdata/tns/tshark-own.tsv   (our captures)
set -eu
dir=${1:-../shared/pcaps/tns}
for f in "$dir"/*.pcap*; do
  name=$(basename "$f")
  # 1522 and the 9i dispatcher ports 1047 and 1048 are not tshark's default TNS port.
  tshark -r "$f" -d tcp.port==1522,tns -d tcp.port==1048,tns -d tcp.port==1047,tns -Y tns \
    -T fields -E separator=/t -e frame.number -e tcp.srcport -e tns.type -e tns.version \
    -e tns.compat_version -e tns.connect_data 2>/dev/null |
  while IFS="$(printf '\t')" read -r fr sp ty ve co cd; do
    # Several PDUs in one frame: tshark joins their fields with commas.
    old_ifs=$IFS; IFS=,
    for t in $ty; do printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$fr" "$sp" "$t" "$ve" "$co" "$cd"; done
    IFS=$old_ifs
  done
done
