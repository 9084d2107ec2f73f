#!/usr/bin/env bash
# testdata/gen/mysql-large.sh — big MySQL captures for end-to-end measurements, NOT committed:
# written to testdata/large/ (gitignored).
#
# Usage (root, from the repo root):  bash testdata/gen/mysql-large.sh [SECONDS] (default 60)
# Needs what testdata/gen/mysql.sh needs, plus sysbench (Debian 1.0.20).
#
# A real mariadbd (as in mysql.sh) in the server namespace; sysbench oltp_read_write in the
# client namespace, 4 threads, 4 tables of 10,000 rows, for SECONDS each:
#   mysql-sysbench-ps.pcap        --db-ps-mode=auto: prepared statements (STMT_EXECUTE)
#   mysql-sysbench-text.pcap      --db-ps-mode=disable: the text-protocol twin (COM_QUERY)
#   mysql-sysbench-compress.pcap  text protocol with --mysql-compression=on (zlib)
#   mysql-bigrow.pcap             drive.py bigrow: a 17 MiB row INSERTed and SELECTed, uncompressed
# and, for pt-query-digest (which reads `tcpdump -x` text, not pcap), next to each capture:
#   <name>.txt                    tcpdump -r <name>.pcap -x -n -q -tttt
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-60}
OUT=$(pwd)/testdata/large
mkdir -p "$OUT"
GEN=$(pwd)/testdata/gen/mysql
source testdata/gen/netns.sh

TMP=$(mktemp -d /tmp/wiresift-mysql-large.XXXXXX)
chmod 755 "$TMP"
cleanup() { ns_cleanup; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

ns_setup wsmy
export MY_HOST=$NS_SRV_IP4 MY_PORT=3306
mariadb-install-db --no-defaults --datadir="$TMP/db" --user=root --skip-test-db \
  --auth-root-authentication-method=socket >"$TMP/install.log" 2>&1
ns_srv timeout $((SECS * 4 + 600)) mariadbd --no-defaults --datadir="$TMP/db" --socket="$TMP/sock" \
  --pid-file="$TMP/pid" --log-error="$TMP/err.log" --user=root --port=3306 \
  --bind-address=0.0.0.0 --skip-name-resolve --max-allowed-packet=64M \
  --innodb-buffer-pool-size=256M --innodb-log-file-size=256M --innodb-flush-log-at-trx-commit=0 \
  --skip-log-bin &
ns_track $!
ns_wait_port "$NS_SRV" 3306
mariadb --no-defaults -S "$TMP/sock" -uroot -e "
  CREATE USER ws@'%' IDENTIFIED BY 'wspass'; GRANT ALL ON *.* TO ws@'%';
  CREATE DATABASE sbtest; CREATE DATABASE wst;"
SB=(sysbench oltp_read_write --db-driver=mysql --mysql-host="$MY_HOST" --mysql-user=ws
    --mysql-password=wspass --mysql-db=sbtest --tables=4 --table-size=10000 --threads=4)
ns_cli "${SB[@]}" prepare >/dev/null
ns_cli timeout 60 python3 "$GEN/drive.py" setup

sb() {
  local name=$1; shift
  ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/$name.pcap" tcp port 3306
  ns_cli timeout $((SECS + 60)) "${SB[@]}" --time="$SECS" --report-interval=0 "$@" run | grep -E "queries:|transactions:" || true
  ns_capture_stop "$OUT/$name.pcap"
  echo "$name.pcap: $(stat -c %s "$OUT/$name.pcap") bytes"
}
sb mysql-sysbench-ps --db-ps-mode=auto
sb mysql-sysbench-text --db-ps-mode=disable
sb mysql-sysbench-compress --db-ps-mode=disable --mysql-compression=on

ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/mysql-bigrow.pcap" tcp port 3306
ns_cli timeout 120 python3 "$GEN/drive.py" bigrow
ns_capture_stop "$OUT/mysql-bigrow.pcap"
echo "mysql-bigrow.pcap: $(stat -c %s "$OUT/mysql-bigrow.pcap") bytes"

for f in mysql-sysbench-ps mysql-sysbench-text mysql-sysbench-compress mysql-bigrow; do
  tcpdump -r "$OUT/$f.pcap" -x -n -q -tttt 2>/dev/null >"$OUT/$f.txt"
done
ls -la "$OUT"/mysql-*
