// Read-only access to a server's SQL database, SQLite or PostgreSQL, as one consistent snapshot:
// SQLite is opened read-only (SQLITE_OPEN_READONLY) inside one read transaction; PostgreSQL runs
// one REPEATABLE READ, READ ONLY transaction (both reads below see the same snapshot even while the
// server keeps writing). Rows are streamed: a SQLite statement iterator, a PostgreSQL cursor.
import Database from "better-sqlite3";
import pg from "pg";
import Cursor from "pg-cursor";
import { ConfigError } from "../../../errors.js";

/** Rows fetched per PostgreSQL cursor read: few round trips, a few hundred KB in memory. */
const PG_BATCH = 1000;
/** A server that does not answer within this is not going to: fail with the DSN named. */
const PG_CONNECT_TIMEOUT_MS = 10_000;

export type Row = Record<string, unknown>;

export interface Dsn {
  readonly driver: "sqlite" | "postgresql";
  /** The file (SQLite) or the connection string (PostgreSQL). */
  readonly target: string;
  /** What to name in messages: the file, or the DSN without its password. */
  readonly label: string;
}

export interface Snapshot {
  readonly dsn: Dsn;
  /** The table's column names; a ConfigError naming the table when it is not there. */
  columns(table: string, hint: string): Promise<Set<string>>;
  count(sql: string): Promise<number>;
  rows(sql: string): AsyncIterable<Row>;
  close(): Promise<void>;
}

/** `sqlite:/var/lib/x.db` or `postgresql://user:password@host:port/db` (also `postgres://`). */
export function parseDsn(text: string, key: string): Dsn {
  if (text.startsWith("sqlite:")) {
    const file = text.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (!file) throw new ConfigError(key, "sqlite: needs a file, e.g. sqlite:/var/lib/ejabberd/ejabberd.db");
    return { driver: "sqlite", target: file, label: file };
  }
  if (/^postgres(ql)?:\/\//.test(text)) {
    let label: string;
    try {
      const url = new URL(text);
      if (url.password) url.password = "***";
      label = url.toString();
    } catch {
      throw new ConfigError(key, "is not a valid URL: use postgresql://user:password@host:port/database");
    }
    return { driver: "postgresql", target: text, label };
  }
  throw new ConfigError(key, `'${text.split(":")[0]}' is not a database: use sqlite:/path/to/file.db or postgresql://user:password@host:port/database`);
}

export async function openSnapshot(dsn: Dsn, source: string): Promise<Snapshot> {
  return dsn.driver === "sqlite" ? openSqlite(dsn, source) : openPostgres(dsn, source);
}

function openSqlite(dsn: Dsn, source: string): Snapshot {
  let db: Database.Database;
  try {
    db = new Database(dsn.target, { readonly: true, fileMustExist: true });
    // A deferred transaction takes its snapshot at the first read and keeps it to the end.
    db.exec("BEGIN");
  } catch (err) {
    throw new ConfigError("source", `${source}: cannot open the SQLite file ${dsn.label} read-only (${(err as Error).message}); give the path of the server's database file, readable by this user`);
  }
  let closed = false;
  return {
    dsn,
    async columns(table, hint) {
      try {
        return new Set(db.prepare(`SELECT * FROM "${table}" LIMIT 0`).columns().map((c) => c.name));
      } catch (err) {
        throw new ConfigError("source", `${source}: no table '${table}' in ${dsn.label} (${(err as Error).message}); ${hint}`);
      }
    },
    async count(sql) {
      return Number((db.prepare(sql).raw(true).get() as unknown[])[0]);
    },
    async *rows(sql) {
      for (const row of db.prepare(sql).iterate()) yield row as Row;
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        db.exec("COMMIT");
      } finally {
        db.close();
      }
    },
  };
}

async function openPostgres(dsn: Dsn, source: string): Promise<Snapshot> {
  const client = new pg.Client({ connectionString: dsn.target, connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS, application_name: "xmpp-maildir import" });
  // An error after connecting (the server going away) surfaces on the next query; without a
  // listener it would be an uncaught 'error' event.
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new ConfigError("source", `${source}: cannot read PostgreSQL at ${dsn.label} (${(err as Error).message}); check host, port, user, password and database in the DSN`);
  }
  let closed = false;
  return {
    dsn,
    async columns(table, hint) {
      try {
        await client.query("SAVEPOINT probe");
        const result = await client.query(`SELECT * FROM "${table}" LIMIT 0`);
        await client.query("RELEASE SAVEPOINT probe");
        return new Set(result.fields.map((f) => f.name));
      } catch (err) {
        throw new ConfigError("source", `${source}: no table '${table}' in ${dsn.label} (${(err as Error).message}); ${hint}`);
      }
    },
    async count(sql) {
      const result = await client.query<{ n: string }>(sql);
      return Number(Object.values(result.rows[0] ?? { n: 0 })[0]);
    },
    async *rows(sql) {
      const cursor = client.query(new Cursor<Row>(sql));
      try {
        for (;;) {
          const batch = await cursor.read(PG_BATCH);
          if (batch.length === 0) return;
          yield* batch;
        }
      } finally {
        await cursor.close();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await client.query("COMMIT");
      } finally {
        await client.end();
      }
    },
  };
}
