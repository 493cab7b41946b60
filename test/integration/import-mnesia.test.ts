// `xmpp-maildir import` from ejabberd's Mnesia store (its default: no SQL configured), read through
// ejabberd itself: real clients chat through a real ejabberd, `ejabberdctl xmpp_maildir_export`
// (server/ejabberd/mod_xmpp_maildir_export.erl) writes archive_msg and offline_msg while the server
// runs, and the CLI imports that, piped in, into Maildirs a real Dovecot serves; IMAP reads back
// Chats (\Seen) and INBOX (unseen, what is still waiting offline). A second import writes nothing.
// Then the same history captured live (module + component, chat history on) and imported from the
// server's archive: every message is in the Maildir once, because both give it the same Message-ID.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, writeFile } from "node:fs/promises";
import path from "node:path";
import { startEjabberd, waitForEmptyOutbox, type EjabberdServer } from "../../harness/ejabberd.js";
import { onServers } from "../../harness/generation.js";
import { listMailbox } from "../../harness/imap.js";
import { mailUser } from "../../harness/mail-user.js";
import { startStack, type EjabberdStack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { runCli } from "../support/cli.js";
import { COMPONENT, converse, DOMAIN, importAndCheck, PASSWORD, USERS } from "../support/import-history.js";

/** ejabberdctl gives up on a command after 60 s without it; an admin's archive can take longer. */
const EXPORT = ["--no-timeout", "xmpp_maildir_export"];

/** The export's lines, parsed: the header, the rows, the end line. */
function exportLines(text: string): Array<Record<string, unknown>> {
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** What ejabberdctl printed when it failed (it prints its errors on stdout, as its results). */
async function failedExport(server: EjabberdServer): Promise<string> {
  try {
    await server.ctl(EXPORT);
  } catch (err) {
    return String((err as { cause?: { stdout?: string } }).cause?.stdout ?? "");
  }
  throw new Error("the export was expected to fail");
}

describe(onServers("import from ejabberd's Mnesia archive (ejabberdctl xmpp_maildir_export)"), () => {
  test("archive_msg and offline_msg, piped in and from a saved file, into Chats and INBOX, twice; a stopped node is one line and exit 2", async () => {
    const dir = await makeTempDir("xmd-import-mnesia-");
    let server: EjabberdServer | undefined;
    try {
      const ej = await startEjabberd({
        dir: path.join(dir, "ejabberd"), domain: DOMAIN, componentDomain: COMPONENT, componentSecret: "unused",
        users: USERS.map((username) => ({ username, password: PASSWORD })),
        // No SQL anywhere: mod_mam and mod_offline keep their data in Mnesia, ejabberd's default.
        modules: { mod_xmpp_maildir: { component: COMPONENT }, mod_xmpp_maildir_export: {} },
      });
      server = ej;
      await converse(ej.c2sPort);
      // Exported from the running server, as an admin would.
      const exported = await ej.ctl(EXPORT);
      const lines = exportLines(exported);
      assert.equal(lines[0]?.format, "xmpp-maildir-export", exported.slice(0, 300));
      // alice 3, bob 4 (one to dave), dave 1 (the copy of what waits offline); dave's offline message.
      assert.deepEqual([lines[0]?.archive, lines[0]?.offline], [8, 1], exported.slice(0, 300));
      assert.deepEqual(lines.at(-1), { end: true, offline: 1, archive: 8 });
      assert.ok(/^[\t\n\x20-\x7e]*$/.test(exported), "the export is ASCII (JSON escapes), whatever ejabberdctl's encoding");

      await importAndCheck(dir, "ejabberd+mnesia:-", [], { stdin: exported });

      // The same export saved to a file: the same messages, so nothing new.
      const user = mailUser();
      const saved = path.join(dir, "export.ndjson");
      await writeFile(saved, exported);
      await chmod(saved, 0o644);
      const template = path.join(dir, "mail", "%d", "%n", "Maildir");
      const fromFile = await runCli(["import", `ejabberd+mnesia:${saved}`, "--maildir", template, "--domain", COMPONENT], { uid: user.uid, gid: user.gid });
      assert.equal(fromFile.code, 0, fromFile.stderr);
      assert.match(fromFile.stderr, /: 0 imported, 9 skipped/);

      // A node that is not running: ejabberdctl prints its failure where the export would be.
      await ej.stop();
      const failure = await failedExport(ej);
      assert.match(failure, /Failed RPC connection|nodedown|not running/i);
      const refused = await runCli(["import", "ejabberd+mnesia:-", "--maildir", template, "--domain", COMPONENT], { uid: user.uid, gid: user.gid, stdin: failure });
      assert.equal(refused.code, 2, refused.stderr);
      const errorLines = refused.stderr.trim().split("\n");
      assert.equal(errorLines.length, 1, refused.stderr);
      assert.match(refused.stderr, /ejabberd\+mnesia:-: not an export from mod_xmpp_maildir_export .*ejabberdctl --no-timeout xmpp_maildir_export/);
    } finally {
      await server?.stop();
      await removeDir(dir);
    }
  });
});

describe(onServers("live capture and import of the same ejabberd history"), () => {
  test("chat history captured live, then imported from the Mnesia archive: each message is in the Maildir once", async () => {
    const dir = await makeTempDir("xmd-import-live-");
    let stack: EjabberdStack | undefined;
    try {
      stack = await startStack({
        dir,
        users: USERS,
        server: "ejabberd",
        module: { chatHistory: true },
        ejabberdModules: { mod_xmpp_maildir_export: {} },
      });
      const component = stack.component({ args: ["--chat-history"] });
      let code: number | null;
      try {
        await component.waitForLog((l) => l.msg === "connected to the XMPP server");
        await converse(stack.server.c2sPort, stack.password);
        await waitForEmptyOutbox(stack.ejabberd);
      } finally {
        code = await component.stop("SIGTERM");
      }
      assert.equal(code, 0, component.stderr());
      const mailbox = (u: string, folder: string) => ({ ...stack!.imap(u), mailbox: folder });
      const folders: Array<[string, string, number]> = [["alice", "Chats", 3], ["bob", "Chats", 4], ["dave", "INBOX", 1]];
      const live = new Map<string, string[]>();
      for (const [u, folder, n] of folders) {
        const ids = (await listMailbox(mailbox(u, folder))).map((m) => m.messageId ?? "");
        assert.equal(ids.length, n, `${u}'s ${folder} after live capture: ${ids.join(" ")}`);
        live.set(`${u}/${folder}`, ids.sort());
      }

      const user = mailUser();
      const exported = await stack.ejabberd.ctl(EXPORT);
      const run = await runCli(["import", "ejabberd+mnesia:-", "--maildir", stack.template, "--domain", COMPONENT], { uid: user.uid, gid: user.gid, stdin: exported });
      assert.equal(run.code, 0, run.stderr);
      for (const [u, folder] of folders) {
        const listed = await listMailbox(mailbox(u, folder));
        const ids = listed.map((m) => m.messageId ?? "").sort();
        const sources = () => listed.map((m) => m.source.toString("utf8").replace(/[\s\S]*?Content-Type: application\/xmpp\+xml[\s\S]*?\r?\n\r?\n/, "").slice(0, 1500)).join("\n----\n");
        assert.deepEqual(ids, live.get(`${u}/${folder}`), `${u}'s ${folder}: the import found every message already there (same Message-IDs)\n${sources()}`);
      }
      assert.match(run.stderr, /: 0 imported/, run.stderr);
      assert.deepEqual(await stack.serverErrors(), []);
    } finally {
      await stack?.stop();
      await removeDir(dir);
    }
  });
});
