// `xmpp-maildir import ejabberd+mnesia:` on exports laid out as `ejabberdctl xmpp_maildir_export`
// writes them (the integration suite has a real ejabberd write them): bad rows logged with their
// user and id and skipped, an offline message's archive twin filed once, what ejabberdctl prints
// instead of an export (unknown command, a stopped node) in one line with exit 2, an export cut
// short stopping the run, and a saved file read the same as a pipe.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { runCli } from "../support/cli.js";

const COMPONENT = "archive.example.org";
const msg = (from: string, to: string, body: string, id: string, type = "chat", extra = "") =>
  `<message xmlns="jabber:client" from="${from}" to="${to}" type="${type}" id="${id}"><body>${body}</body>${extra}</message>`;
const line = (o: Record<string, unknown>) => JSON.stringify(o);
const archive = (user: string, server: string, id: string, xml: string | null, kind = "chat") =>
  line({ table: "archive", user, server, id, ts: Number(id), kind, peer: "bob@example.org/r", xml });

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile() && /\/(new|cur)$/.test(e.parentPath)) out.push(path.join(e.parentPath, e.name));
  return out.sort();
}

const rows = [
  line({ table: "offline", user: "alice", server: "example.org", ts: 1767226860000001, xml: msg("dave@example.org/r", "alice@example.org", "while away ☕", "o1", "chat", "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='1767226860000000'/>") }),
  archive("alice", "example.org", "1767225600000000", msg("bob@example.org/r", "alice@example.org/p", "hello", "e1")),
  archive("alice", "example.org", "1767225660000000", msg("alice@example.org/p", "bob@example.org", "hi back", "e2")),
  archive("alice", "example.org", "1767225720000000", '<message xmlns="jabber:client" from="bob@example.org/r" to="alice@example.org"><body>trunc'),
  archive("mallory", "elsewhere.net", "1767225780000000", msg("bob@example.org/r", "mallory@elsewhere.net", "not ours", "e4")),
  archive("room", "conference.example.org", "1767225840000000", msg("room@conference.example.org/n", "room@conference.example.org", "room", "e5", "groupchat"), "groupchat"),
  archive("alice", "example.org", "1767225900000000", null),
  "this is not JSON",
  // Still waiting offline (same archive id as the offline row's stanza-id): filed once, from there.
  archive("alice", "example.org", "1767226860000000", msg("dave@example.org/r", "alice@example.org", "while away ☕", "o1")),
];
const header = line({ format: "xmpp-maildir-export", version: 1, node: "ejabberd@localhost", offline: 1, archive: 7 });
const end = line({ end: true, offline: 1, archive: 7 });
const exported = [header, ...rows, end, ""].join("\n");

describe("import from ejabberd's Mnesia export (ejabberdctl xmpp_maildir_export's lines)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "xmd-import-mnesia-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("piped in: good rows into Chats (seen) and INBOX; bad rows logged by user and id, skipped; exit 1; the saved file writes nothing new", async () => {
    const out = path.join(dir, "out");
    const args = (source: string) => ["import", source, "--maildir", path.join(out, "%d", "%n"), "--domain", COMPONENT];
    const first = await runCli(args("ejabberd+mnesia:-"), { stdin: exported });
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /import finished in [\d.]+ s: 3 imported, 2 skipped, 4 failed/);
    assert.match(first.stderr, /skipped 1: still in the offline store/);
    assert.match(first.stderr, /skipped 1: a room's own archive/);
    assert.match(first.stderr, /archive_msg alice@example\.org id 1767225720000000 \(line 5\): the stanza is not well-formed XML/);
    assert.match(first.stderr, /archive_msg mallory@elsewhere\.net id 1767225780000000 .*outside the user domain example\.org/);
    assert.match(first.stderr, /archive_msg alice@example\.org id 1767225900000000 .*valid UTF-8 stanza/);
    assert.match(first.stderr, /ejabberd\+mnesia:- line 9.*not a JSON object/);
    const written = (await files(out)).map((f) => path.relative(out, f));
    assert.equal(written.filter((f) => f.startsWith("example.org/alice/.Chats/cur/") && f.endsWith(":2,S")).length, 2, written.join("\n"));
    assert.equal(written.filter((f) => f.startsWith("example.org/alice/new/")).length, 1, "the offline message, unseen in INBOX");

    const saved = path.join(dir, "export.ndjson");
    await writeFile(saved, exported);
    const second = await runCli(args(`ejabberd+mnesia:${saved}`));
    assert.match(second.stderr, /: 0 imported, 5 skipped, 4 failed/);
    assert.equal((await files(out)).length, 3);
  });

  test("what ejabberdctl prints instead of an export is one line naming the source and the fix, exit 2", async () => {
    const out = path.join(dir, "none");
    const args = ["import", "ejabberd+mnesia:-", "--maildir", path.join(out, "%d", "%n"), "--domain", COMPONENT];
    for (const [printed, expected] of [
      ["Error: unknown command 'xmpp_maildir_export'. Did you mean 'export2sql'?\n", /ejabberd\+mnesia:-: not an export from mod_xmpp_maildir_export \(read 'Error: unknown command .*mod_xmpp_maildir_export in ejabberd\.yml's modules/],
      ["Failed RPC connection to the node ejabberd@localhost: nodedown\n", /ejabberd\+mnesia:-: not an export .*Failed RPC connection.*ejabberdctl --no-timeout xmpp_maildir_export/],
      ["", /ejabberd\+mnesia:-: not an export from mod_xmpp_maildir_export \(read nothing\)/],
      [`${line({ error: "neither archive_msg nor offline_msg is a Mnesia table on this node" })}\n`, /ejabberd\+mnesia:-: ejabberd says: neither archive_msg/],
    ] as const) {
      const run = await runCli(args, { stdin: printed });
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
      assert.match(run.stderr, expected);
    }
    const missing = await runCli(["import", `ejabberd+mnesia:${path.join(dir, "nope.ndjson")}`, "--maildir", path.join(out, "%d", "%n"), "--domain", COMPONENT]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /cannot read .*nope\.ndjson: ENOENT/);
  });

  test("an export cut short (no end line) stops the run with exit 2, after importing what was read", async () => {
    const out = path.join(dir, "cut");
    const cut = [header, rows[1], rows[2], ""].join("\n");
    const run = await runCli(["import", "ejabberd+mnesia:-", "--maildir", path.join(out, "%d", "%n"), "--domain", COMPONENT], { stdin: cut });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /ejabberd\+mnesia:-: the export ended without its end line after line 3/);
    assert.equal((await files(out)).length, 2);
  });
});
