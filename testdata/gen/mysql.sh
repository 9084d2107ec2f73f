#!/usr/bin/env bash
# testdata/gen/mysql.sh — make the MySQL/MariaDB captures in testdata/mysql/.
#
# Usage (root, from the repo root):  bash testdata/gen/mysql.sh [OUTDIR] (default testdata/mysql)
#   ONLY="text prepared" bash testdata/gen/mysql.sh   makes a subset.
#   BIG=1 also makes bigrow.pcap (17 MiB row, uncompressed, ~36 MB) in testdata/large/ (gitignored).
# Needs: mariadb-server + mariadb-client (Debian 12: MariaDB 10.11), python3 with
# mysql-connector-python and PyMySQL (`pip install mysql-connector-python PyMySQL`), iproute2,
# nftables, tcpdump, ethtool (see netns.sh).
#
# A real mariadbd runs in the server namespace (10.77.0.1, port 3306, and MariaDB's extra_port
# 13306 for the probe test; user ws / wspass), clients run in the client namespace (10.77.0.2), the
# two joined through a bridge namespace (loss on the wire). Captures: tcpdump -s 0 on the server's
# veth (MTU 1500). Workloads are in testdata/gen/mysql/drive.py (one function each):
#
#   text.pcap              mysql-connector-python (pure) text protocol: SELECT/INSERT/UPDATE/DELETE,
#                          errors 1064/1146/1062, a 5000-byte column, SHOW, an empty result,
#                          INIT_DB, PING, STATISTICS, a 21-row result.
#   text-compress.pcap     the same workload with compress=True (zlib protocol).
#   prepared.pcap          mysql-connector prepared cursors: ints (signed, 2^64-1), double,
#                          decimal, date, datetime, time (negative), str, bytes, NULL; binary rows;
#                          an ERR on prepare.
#   prepared-compress.pcap the same with compress=True.
#   raw-types.pcap         hand-built STMT_EXECUTE: every parameter type (TINY..LONGLONG signed and
#                          unsigned, FLOAT, DOUBLE, NEWDECIMAL, DATE, DATETIME 0/4/7/11, TIMESTAMP,
#                          TIME 0/8/12, YEAR, VAR_STRING, BLOB, BIT, JSON, NULL) in one 21-parameter
#                          INSERT (MariaDB answers ERR 1210) and each alone in `SELECT ?` (JSON:
#                          ERR 1210, MariaDB does not take that type), re-execute without
#                          types, SEND_LONG_DATA, STMT_RESET, a cursor with two STMT_FETCH, a
#                          duplicate-key ERR, STMT_CLOSE, MariaDB STMT_BULK_EXECUTE.
#   raw-commands.pcap      FIELD_LIST, PROCESS_INFO, STATISTICS, PING, REFRESH, DEBUG, SET_OPTION,
#                          a multi-statement QUERY, RESET_CONNECTION, CREATE_DB/DROP_DB (not in
#                          MariaDB: ERR), INIT_DB error, an unknown command, PROCESS_KILL (of
#                          another connection, and unknown id), CHANGE_USER ok and wrong password,
#                          a connection killing itself.
#   pymysql.pcap           PyMySQL: parameters interpolated client-side, executemany (multi-row
#                          INSERT), multi-statements, CALL of a procedure with 2 result sets + OK,
#                          a multi-statement failing in its 2nd statement.
#   multi.pcap             mysql-connector: multi-statements, callproc + stored_results, CALL as
#                          a prepared statement.
#   infile.pcap            LOAD DATA LOCAL INFILE of a 200-line CSV (mysql-connector).
#   login-fail.pcap        wrong password (1045), unknown database (1049), unknown user (1045),
#                          then a good login.
#   cli.pcap / cli-compress.pcap  the `mariadb` CLI running the same statements, the second with
#                          --compress.
#   bigrow-compress.pcap   a 17 MiB LONGBLOB INSERTed and SELECTed with compress=True (packets of
#                          16 MiB and more, joined 0xFFFFFF chunks inside compressed packets).
#   lossy.pcap             3 connections (text, compressed, prepared) looping 4 s with ~4 % of the
#                          data frames dropped on the wire in both directions.
#   midstream.pcap         3 connections (text, compressed, prepared) looping 3 s; the capture
#                          starts 1 s after they connected.
#   extraport.pcap         the text workload against port 13306 (probing).
#   replication.pcap       a second pair of servers: a primary with a binlog (port 3310, server namespace)
#                          and a replica (client namespace) replicating from it; the capture holds
#                          the replica's connection (REGISTER_SLAVE, BINLOG_DUMP, the event stream)
#                          while the primary runs DDL and 20 INSERTs, and a plain client on 3310.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-testdata/mysql}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LARGE=$(pwd)/testdata/large
GEN=$(pwd)/testdata/gen/mysql
source testdata/gen/netns.sh

TMP=$(mktemp -d /tmp/wiresift-mysql.XXXXXX)
chmod 755 "$TMP"
cleanup() { ns_cleanup; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
python3 -c 'import mysql.connector, pymysql' 2>/dev/null ||
  { echo "mysql.sh: needs pip install mysql-connector-python PyMySQL" >&2; exit 1; }

ns_setup wsmy wire
export MY_HOST=$NS_SRV_IP4 MY_PORT=3306

mariadb-install-db --no-defaults --datadir="$TMP/db" --user=root --skip-test-db \
  --auth-root-authentication-method=socket >"$TMP/install.log" 2>&1
ns_srv timeout 900 mariadbd --no-defaults --datadir="$TMP/db" --socket="$TMP/sock" \
  --pid-file="$TMP/pid" --log-error="$TMP/err.log" --user=root --port=3306 --extra-port=13306 \
  --bind-address=0.0.0.0 --skip-name-resolve --max-allowed-packet=64M --local-infile=1 \
  --innodb-buffer-pool-size=64M --innodb-log-file-size=64M --skip-log-bin &
ns_track $!
ns_wait_port "$NS_SRV" 3306
mariadb --no-defaults -S "$TMP/sock" -uroot -e "
  CREATE USER ws@'%' IDENTIFIED BY 'wspass'; GRANT ALL ON *.* TO ws@'%' WITH GRANT OPTION;"
drive() { ns_cli timeout 120 python3 "$GEN/drive.py" "$@"; }
drive setup

want() { [[ -z ${ONLY:-} || " $ONLY " == *" $1 "* ]]; }

# cap NAME CMD... — capture port 3306 while CMD runs in the client namespace.
cap() {
  local name=$1; shift
  want "$name" || return 0
  ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/$name.pcap" tcp port "${CAP_PORT:-3306}"
  "$@"
  ns_capture_stop "$OUT/$name.pcap"
  echo "$name.pcap: $(stat -c %s "$OUT/$name.pcap") bytes"
}

for w in text text-compress prepared prepared-compress raw-types raw-commands pymysql multi infile login-fail bigrow-compress; do
  cap "$w" drive "$w"
done

cat >"$TMP/cli.sql" <<'EOF'
SELECT id, name FROM items WHERE id < 4;
SELECT COUNT(*) FROM items;
INSERT INTO loaded (a, b) VALUES (1, 'cli');
SELECT * FROM nope;
SELECT REPEAT('y', 3000) AS r;
EOF
cli() { ns_cli timeout 60 mariadb --no-defaults -h "$MY_HOST" -u ws -pwspass -D wst --force "$@" <"$TMP/cli.sql" >/dev/null 2>&1 || true; }
cap cli cli
cap cli-compress cli --compress

if want lossy; then
  ns_wire_drop_random 4 tcp dport 3306 tcp flags \& \(syn\|fin\|rst\) == 0 ip length gt 80
  ns_wire_drop_random 4 tcp sport 3306 tcp flags \& \(syn\|fin\|rst\) == 0 ip length gt 80
  cap lossy drive lossy
  ns_wire_counters
  ns_wire_flush
fi

if want midstream; then
  drive midstream &
  mpid=$!
  sleep 1
  ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/midstream.pcap" tcp port 3306
  wait $mpid
  ns_capture_stop "$OUT/midstream.pcap"
  echo "midstream.pcap: $(stat -c %s "$OUT/midstream.pcap") bytes"
fi

if want extraport; then
  CAP_PORT=13306 MY_PORT=13306 cap extraport drive text
fi

if want replication; then
  for d in prim repl; do
    mariadb-install-db --no-defaults --datadir="$TMP/$d" --user=root --skip-test-db \
      --auth-root-authentication-method=socket >"$TMP/install-$d.log" 2>&1
  done
  ns_srv timeout 300 mariadbd --no-defaults --datadir="$TMP/prim" --socket="$TMP/prim.sock" \
    --pid-file="$TMP/prim.pid" --log-error="$TMP/prim.err" --user=root --port=3310 \
    --bind-address=0.0.0.0 --skip-name-resolve --server-id=1 --log-bin="$TMP/prim/bin" \
    --innodb-buffer-pool-size=32M &
  ns_track $!
  ns_cli timeout 300 mariadbd --no-defaults --datadir="$TMP/repl" --socket="$TMP/repl.sock" \
    --pid-file="$TMP/repl.pid" --log-error="$TMP/repl.err" --user=root --port=3311 \
    --bind-address=127.0.0.1 --skip-name-resolve --server-id=2 --innodb-buffer-pool-size=32M &
  ns_track $!
  ns_wait_port "$NS_SRV" 3310
  ns_wait_port "$NS_CLI" 3311
  mariadb --no-defaults -S "$TMP/prim.sock" -uroot -e "
    CREATE USER repl@'%' IDENTIFIED BY 'replpw'; GRANT REPLICATION SLAVE ON *.* TO repl@'%';"
  ns_capture_start "$NS_SRV" "$NS_SRV_IF" "$OUT/replication.pcap" tcp port 3310
  mariadb --no-defaults -S "$TMP/repl.sock" -uroot -e "
    CHANGE MASTER TO MASTER_HOST='$NS_SRV_IP4', MASTER_PORT=3310, MASTER_USER='repl',
      MASTER_PASSWORD='replpw', MASTER_USE_GTID=no, MASTER_HEARTBEAT_PERIOD=1; START SLAVE;"
  sleep 1
  mariadb --no-defaults -S "$TMP/prim.sock" -uroot -e "
    CREATE DATABASE rdb; CREATE TABLE rdb.t (id INT PRIMARY KEY, v VARCHAR(32));
    $(for i in $(seq 1 20); do printf "INSERT INTO rdb.t VALUES (%d, 'row-%d'); " "$i" "$i"; done)"
  sleep 2.5
  MY_PORT=3310 ns_cli timeout 30 mariadb --no-defaults -h "$NS_SRV_IP4" -P 3310 -u repl -preplpw \
    -e "SELECT 1" >/dev/null 2>&1 || true
  ns_capture_stop "$OUT/replication.pcap"
  mariadb --no-defaults -S "$TMP/repl.sock" -uroot -e "SELECT COUNT(*) FROM rdb.t; STOP SLAVE;" || true
  echo "replication.pcap: $(stat -c %s "$OUT/replication.pcap") bytes"
fi

if [[ ${BIG:-0} == 1 ]]; then
  mkdir -p "$LARGE"
  ONLY="bigrow" OUT="$LARGE" cap bigrow drive bigrow
fi
