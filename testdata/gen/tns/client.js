// node-oracledb (thin mode) scenario against testdata/gen/tns/listener.py.
// Usage: node client.js HOST PORT
// Login, SELECT over several fetch round trips, DML with binds, executeMany, PL/SQL, commit,
// rollback, ORA-00942, then a wrong password (ORA-01017).
const oracledb = require("oracledb");

async function main() {
  const [host, port] = process.argv.slice(2);
  const connectString = `(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=${host})(PORT=${port}))(CONNECT_DATA=(SERVICE_NAME=svc)))`;
  const c = await oracledb.getConnection({ user: "scott", password: "tiger-test-pw", connectString });
  const r = await c.execute("select id, name from t_rows where id > :1", [0], { fetchArraySize: 100, resultSet: true });
  let n = 0;
  for (let rows = await r.resultSet.getRows(100); rows.length; rows = await r.resultSet.getRows(100)) n += rows.length;
  await r.resultSet.close();
  console.log("rows:", n);
  const ins = await c.execute("insert into t_items (id, name) values (:1, :2)", [1, "one"]);
  console.log("insert rowsAffected:", ins.rowsAffected);
  const many = await c.executeMany("insert into t_items (id, name) values (:1, :2)", [[2, "b"], [3, "c"], [4, "d"]]);
  console.log("executeMany rowsAffected:", many.rowsAffected);
  await c.execute("begin null; end;");
  await c.commit();
  await c.execute("delete from t_items where id = :1", [3]);
  await c.rollback();
  try {
    await c.execute("select * from missing_table");
  } catch (e) {
    console.log("expected error:", e.message.split("\n")[0]);
  }
  await c.ping();
  await c.close();
  try {
    await oracledb.getConnection({ user: "scott", password: "wrong-pw", connectString });
  } catch (e) {
    console.log("expected error:", e.message.split("\n")[0]);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
