// What every `xmpp-maildir import` integration test does with the history a real server wrote:
// the same conversation (alice and bob chat, bob writes to dave, who never logs in), then the CLI
// imports twice into Maildirs that a real Dovecot serves, and IMAP reads back the folders live
// chat history would use. Shared by import-sql.test.ts and import-mnesia.test.ts.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { chmod } from "node:fs/promises";
import path from "node:path";
import { simpleParser } from "mailparser";
import { xml } from "@xmpp/client";
import { startDovecot } from "../../harness/dovecot.js";
import { listMailbox } from "../../harness/imap.js";
import { mailUser } from "../../harness/mail-user.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";
import { runCli } from "./cli.js";

export const DOMAIN = "example.test";
export const COMPONENT = "archive.example.test";
export const PASSWORD = "pw-" + randomBytes(4).toString("hex");
export const USERS = ["alice", "bob", "dave"];
/** Covers a server round trip on a loaded 2-core machine. */
const WAIT_MS = 15_000;

export interface Server {
  c2sPort: number;
  stop(): Promise<void>;
}

/** Every stanza the server handled for this client before the ping has been processed. */
async function barrier(client: TestClient): Promise<void> {
  const id = `barrier-${randomBytes(4).toString("hex")}`;
  await client.send(xml("iq", { type: "get", id, to: DOMAIN }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  await client.waitForStanza((s) => s.attrs.id === id, WAIT_MS);
}

/** alice and bob chat (both online); bob writes to dave, who never logs in. */
export async function converse(port: number, password = PASSWORD): Promise<void> {
  const alice = await connectClient({ port, domain: DOMAIN, username: "alice", password });
  const bob = await connectClient({ port, domain: DOMAIN, username: "bob", password });
  try {
    await bob.sendMessage({ to: `alice@${DOMAIN}`, body: "hello alice", id: "b1" });
    await alice.waitForStanza((s) => s.attrs.id === "b1", WAIT_MS);
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "hi bob ☕", id: "a1" });
    await bob.waitForStanza((s) => s.attrs.id === "a1", WAIT_MS);
    await bob.sendMessage({ to: `alice@${DOMAIN}`, body: "third <b>&amp;</b>", id: "b2" });
    await alice.waitForStanza((s) => s.attrs.id === "b2", WAIT_MS);
    await bob.sendMessage({ to: `dave@${DOMAIN}`, body: "while you were away", id: "b3" });
    await barrier(bob);
    await barrier(alice);
  } finally {
    await alice.stop();
    await bob.stop();
  }
}

/** Imports `source` twice as the mail user and checks what IMAP shows. */
export async function importAndCheck(dir: string, source: string, extra: string[] = [], input: { stdin?: string } = {}): Promise<void> {
  const user = mailUser();
  const template = path.join(dir, "mail", "%d", "%n", "Maildir");
  const dovecot = await startDovecot({ dir: path.join(dir, "dovecot"), maildirTemplate: template, users: USERS.map((u) => ({ user: `${u}@${DOMAIN}`, password: PASSWORD })), uid: user.uid, gid: user.gid });
  try {
    const args = ["import", source, "--maildir", template, "--domain", COMPONENT, ...extra];
    const first = await runCli(args, { uid: user.uid, gid: user.gid, ...input });
    assert.equal(first.code, 0, first.stderr);
    const imported = Number(/: (\d+) imported/.exec(first.stderr)?.[1]);
    const account = (u: string, mailbox: string) => ({ port: dovecot.imapPort, user: `${u}@${DOMAIN}`, password: PASSWORD, mailbox });

    const aliceChats = await listMailbox(account("alice", "Chats"));
    const parsed = await Promise.all(aliceChats.map((m) => simpleParser(m.source)));
    assert.deepEqual(parsed.map((p) => p.text?.trim()).sort(), ["hello alice", "hi bob ☕", "third <b>&amp;</b>"].sort(), "alice's chat history, both directions");
    for (const m of aliceChats) assert.ok(m.flags.includes("\\Seen"), `chat history is \\Seen: ${m.flags.join(" ")}`);
    for (const p of parsed) {
      assert.match(p.messageId ?? "", new RegExp(`^<[0-9a-f]{32}@${COMPONENT.replaceAll(".", "\\.")}>$`));
      assert.ok(p.attachments.some((a) => a.contentType === "application/xmpp+xml"), "the stanza travels along");
    }
    assert.deepEqual(parsed.map((p) => p.from?.value[0]?.address).sort(), [`alice@${DOMAIN}`, `bob@${DOMAIN}`, `bob@${DOMAIN}`]);
    const bobChats = await listMailbox(account("bob", "Chats"));
    assert.equal(bobChats.length, 4, "bob's history: two sent to alice, one received, one sent to dave");
    assert.equal((await listMailbox(account("alice", "INBOX"))).length, 0, "nothing of a chat lands in INBOX");

    // dave never logged in: the message waits in the offline store and goes to INBOX, unseen, as
    // live capture files it; its copy in dave's MAM archive (same stanza-id) is not filed again.
    const daveInbox = await listMailbox(account("dave", "INBOX"));
    assert.equal(daveInbox.length, 1, "the undelivered message");
    assert.equal((await simpleParser(daveInbox[0]!.source)).text?.trim(), "while you were away");
    assert.ok(!daveInbox[0]!.flags.includes("\\Seen"), "offline messages arrive unseen");
    const daveChats = await listMailbox(account("dave", "Chats")).catch((err: Error) => {
      if (/doesn't exist|does not exist|NONEXISTENT/i.test(`${err.message} ${String((err.cause as { responseText?: string } | undefined)?.responseText)}`)) return [];
      throw err;
    });
    assert.equal(daveChats.length, 0, "the offline message is not filed twice");
    assert.match(first.stderr, /skipped 1: still in the offline store/);
    assert.equal(imported, 3 + 4 + 1, first.stderr);

    const second = await runCli(args, { uid: user.uid, gid: user.gid, ...input });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /: 0 imported, 9 skipped/);
    assert.equal((await listMailbox(account("bob", "Chats"))).length, 4, "nothing new after re-import");
  } finally {
    await dovecot.stop();
  }
}

/** The importer runs as the mail user: it must be able to read the database the server wrote. */
export async function readable(dir: string): Promise<void> {
  execFileSync("chmod", ["-R", "a+rX", dir]);
  await chmod(path.dirname(dir), 0o755);
}
