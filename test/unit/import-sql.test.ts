// `xmpp-maildir import` from SQL stores, on SQLite files laid out as ejabberd's and Prosody's own
// schemas (the integration suite has the real servers write them): bad rows logged with their row
// id and skipped, a user outside the domain refused, a wrong source or missing table in one line
// with exit 2, passwords never printed, the file left unchanged (read-only), filters, dry run and
// checkpoint resume. Rows parsed and rendered on the render worker file the same mails, under the
// same Message-IDs, as rows parsed and rendered on the main thread.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { runCli } from "../support/cli.js";
import { createLogger } from "../../src/log/index.js";
import { peekHeaders } from "../../src/mail/index.js";
import * as replay from "../../src/replay/index.js";

const COMPONENT = "archive.example.org";
const msg = (from: string, to: string, body: string, id: string, type = "chat") =>
  `<message xmlns="jabber:client" from="${from}" to="${to}" type="${type}" id="${id}"><body>${body}</body></message>`;

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile() && /\/(new|cur)$/.test(e.parentPath)) out.push(path.join(e.parentPath, e.name));
  return out.sort();
}

describe("import from SQL stores (SQLite files in the servers' schemas)", () => {
  let dir: string;
  let ejabberdDb: string;
  let prosodyDb: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "xmd-import-sql-"));
    ejabberdDb = path.join(dir, "ejabberd.db");
    const ej = new Database(ejabberdDb);
    // ejabberd's sql/lite.new.sql (archive and spool, multi-host schema).
    ej.exec(`CREATE TABLE archive (username text NOT NULL, server_host text NOT NULL, timestamp BIGINT UNSIGNED NOT NULL, peer text NOT NULL,
      bare_peer text NOT NULL, xml text NOT NULL, txt text, id INTEGER PRIMARY KEY AUTOINCREMENT, kind text, nick text, created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP);
      CREATE TABLE spool (username text NOT NULL, server_host text NOT NULL, xml text NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);`);
    const a = ej.prepare("INSERT INTO archive (username, server_host, timestamp, peer, bare_peer, xml, kind) VALUES (?, ?, ?, ?, ?, ?, ?)");
    a.run("alice", "example.org", 1767225600000000, "bob@example.org/r", "bob@example.org", msg("bob@example.org/r", "alice@example.org/p", "hello", "e1"), "chat");
    a.run("alice", "example.org", 1767225660000000, "bob@example.org", "bob@example.org", msg("alice@example.org/p", "bob@example.org", "hi back", "e2"), "chat");
    a.run("alice", "example.org", 1767225720000000, "bob@example.org", "bob@example.org", '<message xmlns="jabber:client" from="bob@example.org/r" to="alice@example.org"><body>trunc', "chat");
    a.run("mallory", "elsewhere.net", 1767225780000000, "bob@example.org", "bob@example.org", msg("bob@example.org/r", "mallory@elsewhere.net", "not ours", "e4"), "chat");
    a.run("room@conference.example.org", "example.org", 1767225840000000, "x", "x", msg("room@conference.example.org/n", "room@conference.example.org", "room", "e5", "groupchat"), "groupchat");
    a.run("alice", "example.org", 1767226800000000, "carol@example.org/r", "carol@example.org", msg("carol@example.org/r", "alice@example.org", "from carol", "e6"), "chat");
    // Still waiting offline, with the archive id mod_mam gave it; its archive twin is skipped.
    a.run("alice", "example.org", 1767226860000000, "dave@example.org/r", "dave@example.org", msg("dave@example.org/r", "alice@example.org", "while away", "o1"), "chat");
    ej.prepare("INSERT INTO spool (username, server_host, xml) VALUES (?, ?, ?)").run("alice", "example.org",
      msg("dave@example.org/r", "alice@example.org", "while away", "o1").replace("</message>", "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='1767226860000000'/></message>"));
    ej.close();
    prosodyDb = path.join(dir, "prosody.sqlite");
    const pr = new Database(prosodyDb);
    // mod_storage_sql's prosodyarchive (0.12 and 13).
    pr.exec(`CREATE TABLE prosodyarchive (sort_id INTEGER PRIMARY KEY AUTOINCREMENT, host TEXT NOT NULL, user TEXT NOT NULL, store TEXT NOT NULL,
      key TEXT NOT NULL, "when" INTEGER NOT NULL, "with" TEXT NOT NULL, type TEXT NOT NULL, value MEDIUMTEXT NOT NULL)`);
    const p = pr.prepare(`INSERT INTO prosodyarchive (host, user, store, key, "when", "with", type, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    p.run("example.org", "alice", "archive", "k1", 1767225600, "bob@example.org", "xml", msg("bob@example.org/r", "alice@example.org/p", "prosody hello", "p1"));
    p.run("example.org", "alice", "offline", "k2", 1767225660, "bob@example.org", "xml", msg("bob@example.org/r", "alice@example.org", "prosody offline", "p2"));
    p.run("example.org", "alice", "archive", "k3", 1767225720, "bob@example.org", "xml", "<message><body>");
    pr.close();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("ejabberd: good rows into Chats (seen) and INBOX; bad rows logged by id, skipped; exit 1; the file unchanged; a second run writes nothing", async () => {
    const before = (await stat(ejabberdDb)).mtimeMs;
    const out = path.join(dir, "ej-out");
    const args = ["import", `ejabberd+sqlite:${ejabberdDb}`, "--maildir", path.join(out, "%d", "%n"), "--domain", COMPONENT];
    const first = await runCli(args);
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /import finished in [\d.]+ s: 4 imported, 2 skipped, 2 failed/);
    assert.match(first.stderr, /skipped 1: still in the offline store/);
    assert.match(first.stderr, /ejabberd\.db archive id 3: the stanza is not well-formed XML/);
    assert.match(first.stderr, /ejabberd\.db archive id 4: user mallory@elsewhere\.net is outside the user domain example\.org/);
    assert.match(first.stderr, /skipped 1: a room's own archive/);
    const written = (await files(out)).map((f) => path.relative(out, f));
    assert.equal(written.filter((f) => f.startsWith("example.org/alice/.Chats/cur/") && f.endsWith(":2,S")).length, 3, written.join("\n"));
    assert.equal(written.filter((f) => f.startsWith("example.org/alice/new/")).length, 1, "the offline message, unseen in INBOX");
    assert.equal((await stat(ejabberdDb)).mtimeMs, before, "opened read-only");
    const second = await runCli(args);
    assert.match(second.stderr, /: 0 imported, 6 skipped, 2 failed/);
    assert.equal((await files(out)).length, 4);
  });

  test("filters, dry run and checkpoint work on a streamed source", async () => {
    const out = path.join(dir, "ej-filtered");
    const base = ["import", `ejabberd+sqlite:${ejabberdDb}`, "--store", "archive", "--maildir", path.join(out, "%d", "%n"), "--domain", COMPONENT];
    const dry = await runCli([...base, "--peer", "carol@example.org", "--dry-run"]);
    assert.match(dry.stdout, /^would import .*archive id 6 → .*\.Chats$/m);
    assert.equal(dry.stdout.trim().split("\n").length, 1, dry.stdout);
    await assert.rejects(stat(out), { code: "ENOENT" });
    const since = await runCli([...base, "--since", "2026-01-01T00:10:00Z", "--user", "alice@example.org"]);
    assert.match(since.stderr, /: 2 imported/, "carol's and dave's (only the archive store is read)");
    const ckpt = path.join(dir, "ckpt");
    await runCli([...base, "--checkpoint", ckpt, "--until", "2026-01-01T00:10:00Z"]);
    const resumed = await runCli([...base, "--checkpoint", ckpt]);
    assert.match(resumed.stderr, /already done/);
  });

  test("Prosody: archive into Chats, offline into INBOX, a truncated stanza logged by sort_id", async () => {
    const out = path.join(dir, "pr-out");
    const r = await runCli(["import", `prosody+sqlite:${prosodyDb}`, "--maildir", path.join(out, "%d", "%n"), "--domain", COMPONENT]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /2 imported, 0 skipped, 1 failed/);
    assert.match(r.stderr, /prosodyarchive sort_id 3: the stanza is not well-formed XML/);
    const written = (await files(out)).map((f) => path.relative(out, f));
    assert.deepEqual(written.map((f) => f.split("/").slice(0, -1).join("/")).sort(), ["example.org/alice/.Chats/cur", "example.org/alice/new"]);
  });

  test("rows loaded and rendered on the render worker give the same mails, folders, flags and Message-IDs as on the main thread", async () => {
    const run = async (renderThreads: number) => {
      const out = path.join(dir, `threads-${renderThreads}`);
      const target = replay.createMaildirTarget({ template: path.join(out, "%d", "%n"), domain: COMPONENT, dryRun: false, renderThreads });
      assert.equal(target.prerender !== undefined, renderThreads > 0, "rows go to the worker exactly when there is one");
      const { summary } = await replay.runReplay({
        source: replay.createEjabberdSqlSource({ dsn: replay.parseDsn(`sqlite:${ejabberdDb}`, "source"), stores: ["offline", "archive"], domains: { componentDomain: COMPONENT, userDomain: "example.org" } }),
        target,
        selection: replay.parseSelection({}), checkpoint: undefined, progress: replay.NO_PROGRESS, pacer: replay.createPacer(undefined), concurrency: 4,
        logger: createLogger({ level: "silent" }), dryRun: false,
      });
      await target.close();
      const mails = await Promise.all((await files(out)).map(async (f) => {
        const where = path.relative(out, f).replace(/\/[^/]*?(:2,[A-Z]*)?$/, "/$1");
        return `${where} ${peekHeaders(await readFile(f))?.get("message-id")?.trim()}`;
      }));
      return { summary: { replayed: summary.replayed, skipped: [...summary.skipped], failed: [...summary.failed] }, mails: mails.sort() };
    };
    const inline = await run(0);
    const worker = await run(1);
    assert.equal(inline.mails.length, 4, inline.mails.join("\n"));
    assert.deepEqual(worker, inline);
  });

  test("a missing file, a missing table or a wrong DSN: one line naming the source and the fix, exit 2, no password", async () => {
    const maildir = ["--maildir", path.join(dir, "x", "%d", "%n"), "--domain", COMPONENT];
    const missing = await runCli(["import", `ejabberd+sqlite:${path.join(dir, "nope.db")}`, ...maildir]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^xmpp-maildir: source: ejabberd: cannot open the SQLite file .*nope\.db read-only/m);
    const table = await runCli(["import", `prosody+sqlite:${ejabberdDb}`, ...maildir]);
    assert.equal(table.code, 2);
    assert.match(table.stderr, /^xmpp-maildir: source: prosody: no table 'prosodyarchive' in .*ejabberd\.db .*storage = "sql"/m);
    const schema = await runCli(["import", `ejabberd+sqlite:${prosodyDb}`, ...maildir]);
    assert.equal(schema.code, 2);
    assert.match(schema.stderr, /no table '(spool|archive)'/);
    const pg = await runCli(["import", "ejabberd+postgresql://ej:hunter2@127.0.0.1:1/ejabberd", ...maildir]);
    assert.equal(pg.code, 2);
    assert.match(pg.stderr, /^xmpp-maildir: source: ejabberd: cannot read PostgreSQL at postgresql:\/\/ej:\*\*\*@127\.0\.0\.1:1\/ejabberd/m);
    assert.doesNotMatch(pg.stderr, /hunter2/);
    const scheme = await runCli(["import", "ejabberd+mysql://x", ...maildir]);
    assert.equal(scheme.code, 2);
    assert.match(scheme.stderr, /use sqlite:\/path\/to\/file\.db or postgresql:/);
    for (const r of [missing, table, schema, pg, scheme]) assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });
});
