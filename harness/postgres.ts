/**
 * A throwaway PostgreSQL server (the host's PostgreSQL 15) for import tests: initdb and postgres
 * in a temp dir, on a free loopback port, with a password user, cleaned up on stop(). PostgreSQL
 * refuses to run as root, so when the tests run as root (CI) the data directory is given to
 * `nobody` and both programs run as that user. Servers of either generation reach it over
 * loopback TCP (the Debian 13 root shares the host's network).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { pollUntil } from "./poll.js";
import { freePort } from "./ports.js";
import { makeTempDir, removeDir } from "./tmp.js";

const execFileAsync = promisify(execFile);

/** Debian 12's server package (postgresql-15); the binaries are not on PATH. */
const PG_BIN = process.env.XMPP_MAILDIR_PG_BIN || "/usr/lib/postgresql/15/bin";
/** initdb takes ~2 s here with --no-sync; start ~0.5 s. Generous for a loaded 2-core machine. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
/** The unprivileged account the server runs as when we are root. */
const NOBODY = { uid: 65534, gid: 65534 };

export interface Postgres {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** postgresql://user:password@127.0.0.1:port/database */
  dsn(database: string): string;
  /** Creates an empty database owned by `user`; returns its name. */
  createDatabase(name: string): Promise<string>;
  /** Runs an SQL file (a server's schema) in a database. */
  loadSchema(database: string, file: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<Postgres> {
  const dir = await makeTempDir("xmd-pg-");
  const data = path.join(dir, "data");
  const socketDir = path.join(dir, "run");
  const owner = process.getuid?.() === 0 ? NOBODY : undefined;
  const user = "xmd";
  const password = `pg-${randomBytes(6).toString("hex")}`;
  let proc: ChildProcess | undefined;
  let output = "";
  try {
    await mkdir(socketDir);
    if (owner) {
      for (const d of [dir, socketDir]) await chown(d, owner.uid, owner.gid);
    }
    // Local (socket) connections trust, so we can set the password; TCP needs it (md5, which every
    // client library here speaks).
    await execFileAsync(path.join(PG_BIN, "initdb"), ["-D", data, "-U", user, "-E", "UTF8", "--locale=C", "--auth-local=trust", "--auth-host=md5", "--no-sync"], {
      cwd: dir,
      timeout: START_TIMEOUT_MS,
      ...(owner ?? {}),
    });
    const port = await freePort();
    proc = spawn(
      path.join(PG_BIN, "postgres"),
      ["-D", data, "-p", String(port), "-k", socketDir, "-c", "listen_addresses=127.0.0.1", "-c", "password_encryption=md5", "-c", "fsync=off", "-c", "full_page_writes=off"],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"], ...(owner ?? {}) },
    );
    proc.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const running = proc;
    let exited = false;
    running.on("exit", () => (exited = true));
    await pollUntil(
      async () => {
        if (exited) throw new Error(`postgres exited:\n${output}`);
        const client = new pg.Client({ host: socketDir, port, user, database: "postgres" });
        try {
          await client.connect();
          await client.query(`ALTER USER ${user} PASSWORD '${password}'`);
          return true;
        } catch {
          return undefined;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 100, describe: () => `PostgreSQL on 127.0.0.1:${port} did not answer:\n${output}` },
    );
    const dsn = (database: string) => `postgresql://${user}:${password}@127.0.0.1:${port}/${database}`;
    const withClient = async <T>(database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> => {
      const client = new pg.Client({ connectionString: dsn(database) });
      await client.connect();
      try {
        return await fn(client);
      } finally {
        await client.end();
      }
    };
    let stopped = false;
    return {
      port,
      user,
      password,
      dsn,
      async createDatabase(name) {
        await withClient("postgres", (c) => c.query(`CREATE DATABASE "${name}" OWNER ${user} ENCODING 'UTF8'`));
        return name;
      },
      async loadSchema(database, file) {
        const sql = await readFile(file, "utf8");
        await withClient(database, (c) => c.query(sql));
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopServer(running, () => exited);
        await removeDir(dir);
      },
    };
  } catch (err) {
    if (proc) await stopServer(proc, () => proc!.exitCode !== null || proc!.signalCode !== null);
    await removeDir(dir);
    throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${output}`, { cause: err });
  }
}

/** SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, nothing waits. */
async function stopServer(proc: ChildProcess, hasExited: () => boolean): Promise<void> {
  if (hasExited()) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.kill("SIGINT");
  const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
