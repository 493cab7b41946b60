// Smoke test of the integration harness itself: real Prosody and Dovecot on
// free loopback ports in a temp dir, without any of the product's code.
import { describe, test, type TestContext } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { chown, mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startDovecot, type DovecotServer } from "../../harness/dovecot.js";
import { listMailbox } from "../../harness/imap.js";
import { mailUser } from "../../harness/mail-user.js";
import { startProsody, type ProsodyServer } from "../../harness/prosody.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type Element, type TestClient } from "../../harness/xmpp-client.js";

const DOMAIN = "example.test";
const COMPONENT = "archive.example.test";
const PASSWORD = "secret-pw";
const NS_DELAY = "urn:xmpp:delay"; // XEP-0203

function chatWithBody(body: string) {
  return (s: Element) => s.is("message") && s.getChildText("body") === body;
}

async function timed<T>(t: TestContext, what: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await fn();
  t.diagnostic(`${what}: ${Math.round(performance.now() - started)} ms`);
  return result;
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, uid, gid);
    else await chown(full, uid, gid);
  }
}

describe(onServers("integration harness"), () => {
  test("Prosody delivers chats live and, via mod_offline, after a reconnect", async (t) => {
    const dir = await makeTempDir("xmd-harness-");
    let prosody: ProsodyServer | undefined;
    const clients: TestClient[] = [];
    const connect = async (username: string) => {
      if (!prosody) throw new Error("Prosody not started");
      const c = await connectClient({ port: prosody.c2sPort, domain: DOMAIN, username, password: PASSWORD });
      clients.push(c);
      return c;
    };
    try {
      prosody = await timed(t, "Prosody start (incl. 2 prosodyctl register)", () =>
        startProsody({
          dir: path.join(dir, "prosody"),
          domain: DOMAIN,
          componentDomain: COMPONENT,
          componentSecret: "component-secret",
          users: [
            { username: "alice", password: PASSWORD },
            { username: "bob", password: PASSWORD },
          ],
        }),
      );
      const alice = await timed(t, "client login + presence echo", () => connect("alice"));
      let bob = await connect("bob");
      assert.match(alice.jid, /^alice@example\.test\/.+/);

      await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "live hello" });
      const live = await bob.waitForStanza(chatWithBody("live hello"));
      assert.equal(live.attrs.type, "chat");
      assert.equal(live.attrs.from, alice.jid);
      assert.equal(live.getChild("delay", NS_DELAY), undefined, "a live message carries no <delay>");

      await bob.stop();
      await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "while you were away" });
      bob = await connect("bob");
      const stored = await bob.waitForStanza(chatWithBody("while you were away"));
      const delay = stored.getChild("delay", NS_DELAY);
      assert.ok(delay, `an offline message carries <delay>: ${stored.toString()}`);
      assert.equal(delay.attrs.from, DOMAIN);

      await timed(t, "Prosody stop", () => prosody?.stop() ?? Promise.resolve());
      await timed(t, "Prosody restart", () => prosody?.start() ?? Promise.resolve());
      const again = await connect("alice");
      assert.match(again.jid, /^alice@/, "accounts survive a restart");
    } finally {
      for (const c of clients) await c.stop();
      await prosody?.stop();
      await removeDir(dir);
    }
  });

  test("Dovecot serves a hand-made Maildir over IMAP", async (t) => {
    const dir = await makeTempDir("xmd-harness-");
    const user = mailUser();
    let dovecot: DovecotServer | undefined;
    try {
      dovecot = await timed(t, "Dovecot start", () =>
        startDovecot({
          dir: path.join(dir, "dovecot"),
          maildirTemplate: path.join(dir, "mail", "%d", "%n", "Maildir"),
          users: [{ user: `alice@${DOMAIN}`, password: PASSWORD }],
          uid: user.uid,
          gid: user.gid,
        }),
      );

      // The Maildir spec: deliver into tmp/, then the file appears in new/.
      const maildir = path.join(dir, "mail", DOMAIN, "alice", "Maildir");
      for (const sub of ["cur", "new", "tmp"]) await mkdir(path.join(maildir, sub), { recursive: true });
      const message = [
        "From: bob@example.test",
        "To: alice@example.test",
        "Subject: Hello from the harness",
        "Message-ID: <harness-1@example.test>",
        "Date: Sat, 22 Nov 2025 10:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Hi Alice.",
        "",
      ].join("\r\n");
      await writeFile(path.join(maildir, "new", "1763805600.M1P1.harness"), message);
      await chownTree(path.join(dir, "mail", DOMAIN), user.uid, user.gid);

      const imap = { port: dovecot.imapPort, user: `alice@${DOMAIN}`, password: PASSWORD };
      const messages = await timed(t, "IMAP list", () => listMailbox(imap));
      assert.equal(messages.length, 1);
      const [first] = messages;
      assert.equal(first?.subject, "Hello from the harness");
      assert.equal(first?.from, "bob@example.test");
      assert.equal(first?.messageId, "<harness-1@example.test>");
      assert.ok(!first?.flags.includes("\\Seen"), "listing read-only leaves the message unseen");
      assert.equal(first?.source.toString(), message);

      await assert.rejects(listMailbox({ ...imap, password: "wrong" }), "a wrong password is refused");
      await timed(t, "Dovecot stop", () => dovecot?.stop() ?? Promise.resolve());
    } finally {
      await dovecot?.stop();
      await removeDir(dir);
    }
  });
});
