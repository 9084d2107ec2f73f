#!/usr/bin/env bash
# testdata/gen/mysql-tshark.sh — golden files from tshark's MySQL dissector for the uncompressed
# captures in testdata/mysql/, compared by tests/mysql_tshark.rs.
#
# For each capture F (port 3306, and 13306 for extraport.pcap), tshark is run as:
#   tshark -r F -d tcp.port==P,mysql -Y mysql -T fields -E separator=/t -E aggregator=$'\x1f' \
#     -e tcp.stream -e frame.number -e tcp.srcport -e mysql.command -e mysql.query \
#     -e mysql.error_code -e mysql.affected_rows -e mysql.num_fields -e mysql.row.text
# and reduced to testdata/golden/mysql-tshark/<stem>.tsv, one line per client command frame:
#   client_port  frame  command(code)  query  error_codes  affected_rows  text_rows
# where the reply fields aggregate the server frames up to the next command frame of the same
# stream: error codes (comma-joined), the last affected_rows, and text_rows = the number of
# mysql.row.text values divided by the last num_fields (text protocol only; "" when none).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=testdata/golden/mysql-tshark
mkdir -p "$out"
for stem in text prepared raw-types raw-commands pymysql multi infile login-fail cli extraport; do
  f=testdata/mysql/$stem.pcap
  port=3306
  [[ $stem == extraport ]] && port=13306
  tshark -r "$f" -d "tcp.port==$port,mysql" -Y mysql -T fields -E separator=/t -E aggregator=$'\x1f' \
    -e tcp.stream -e frame.number -e tcp.srcport -e mysql.command -e mysql.query \
    -e mysql.error_code -e mysql.affected_rows -e mysql.num_fields -e mysql.row.text 2>/dev/null |
  PORT=$port python3 -c '
import os, sys
port = int(os.environ["PORT"])
cur = {}      # stream -> open command record
rows = []
def close(s):
    r = cur.pop(s, None)
    if r is None: return
    tr = ""
    if r["nf"] and r["vals"]:
        tr = str(r["vals"] // r["nf"])
    rows.append("\t".join([r["port"], r["frame"], r["cmd"], r["query"].replace("\t", " ").replace("\n", " "),
                           ",".join(r["err"]), r["aff"], tr]))
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    f += [""] * (9 - len(f))
    stream, frame, sport, cmd, query, err, aff, nf, rowtext = f[:9]
    if int(sport) != port:
        if cmd:
            close(stream)
            cur[stream] = {"port": sport, "frame": frame, "cmd": cmd.split("\x1f")[0], "query": query.split("\x1f")[0],
                           "err": [], "aff": "", "nf": 0, "vals": 0}
        continue
    r = cur.get(stream)
    if r is None: continue
    if err: r["err"] += err.split("\x1f")
    if aff: r["aff"] = aff.split("\x1f")[-1]
    if nf: r["nf"] = int(nf.split("\x1f")[-1])
    if rowtext: r["vals"] += len(rowtext.split("\x1f"))
for s in list(cur): close(s)
print("\n".join(rows))
' > "$out/$stem.tsv"
  echo "$stem: $(wc -l < "$out/$stem.tsv") commands"
done
