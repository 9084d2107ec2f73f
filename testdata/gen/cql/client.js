// Drive responder.py with the DataStax Node.js cassandra-driver (npm install cassandra-driver
// in a directory under /tmp; NODE_PATH points there).  node client.js HOST PROTOCOL_VERSION|auto
'use strict';
const cassandra = require('cassandra-driver');
const [host, version] = [process.argv[2], parseInt(process.argv[3], 10)];
const port = parseInt(process.env.CQL_PORT || '9042', 10);

async function main() {
  const client = new cassandra.Client({
    contactPoints: [host], localDataCenter: 'dc1',
    protocolOptions: Number.isNaN(version) ? { port } : { port, maxVersion: version },
    isMetadataSyncEnabled: false, pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 1 } },
    policies: { retry: new cassandra.policies.retry.FallthroughRetryPolicy() },
  });
  await client.connect();
  await client.execute('USE shop');
  await client.execute("INSERT INTO shop.users (id, name) VALUES (?, ?)", [30, 'node'], { prepare: false });
  // concurrent, answered out of order
  await Promise.all([250, 150, 50, 0].map((d, i) =>
    client.execute(`SELECT * FROM shop.users WHERE id = ${i} /* delay=${d} */`)));
  // paging: 25 rows in pages of 10
  let n = 0;
  let res = await client.execute('SELECT * FROM shop.users', [], { fetchSize: 10 });
  n += res.rows.length;
  while (res.pageState) {
    res = await client.execute('SELECT * FROM shop.users', [], { fetchSize: 10, pageState: res.pageState });
    n += res.rows.length;
  }
  if (n !== 25) throw new Error('paging got ' + n);
  // prepared
  for (let i = 0; i < 3; i++) await client.execute('SELECT * FROM shop.users WHERE id = ?', [i], { prepare: true });
  await client.batch([
    { query: 'INSERT INTO shop.users (id, name) VALUES (?, ?)', params: [40, 'forty'] },
    { query: "INSERT INTO shop.users (id, name) VALUES (41, 'forty-one')" },
  ], { prepare: true, logged: false, consistency: cassandra.types.consistencies.localQuorum });
  for (const e of ['err_read_timeout', 'err_unavailable', 'nosuchtable', 'err_overloaded']) {
    try { await client.execute(`SELECT * FROM shop.${e} WHERE id = 1`); } catch (err) { console.log('  expected error:', err.code, err.message.slice(0, 60)); }
  }
  await client.shutdown();
  console.log('ok node', version);
}
main().catch((e) => { console.error(e); process.exit(1); });
