// End to end: a real Prosody or ejabberd with our module, the real CLI as the mail user, a real
// Dovecot, a real XMPP client sending, and an IMAP client reading what landed. Every scenario runs
// once per server: the component cannot tell which one it is attached to.
import { after, before, describe, test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { simpleParser } from "mailparser";
import { type ComponentProcess } from "../../harness/component.js";
import { listMailbox, waitForMessages } from "../../harness/imap.js";
import { COMPONENT, DOMAIN, SERVER_KINDS, startStack, type AnyStack, type ServerKind } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient } from "../../harness/xmpp-client.js";

const SERVER_NAMES: Record<ServerKind, string> = { prosody: "Prosody", ejabberd: "ejabberd" };

function isStored(user: string, reason: string) {
  return (line: { msg: string; [k: string]: unknown }) => line.msg === "stored" && line.user === user && line.reason === reason;
}

for (const kind of SERVER_KINDS) {
  const name = SERVER_NAMES[kind];

  describe(onServers(`archiving through a real ${name} into a Maildir that Dovecot serves`), () => {
    let dir: string;
    let stack: AnyStack;
    let component: ComponentProcess;
    const imap = () => stack.imap("alice");
    const client = (username: string) => connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username, password: stack.password });

    before(async () => {
      dir = await makeTempDir("xmd-archive-");
      stack = await startStack({ dir, users: ["alice", "bob", "carol"], server: kind });
      component = stack.component();
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    });

    after(async () => {
      const code = await component?.stop("SIGTERM");
      await stack?.stop();
      await removeDir(dir);
      assert.equal(code, 0, `component exits 0 on SIGTERM; stderr: ${component?.stderr()}`);
    });

    test(`a chat to an offline user is archived, and ${name} still delivers it at login`, async () => {
      const bob = await client("bob");
      try {
        await bob.sendMessage({ to: `alice@${DOMAIN}`, type: "chat", body: "offline hello ☕", id: "off-1" });
        await component.waitForLog(isStored(`alice@${DOMAIN}`, "offline"));
        const [mail] = await waitForMessages({ ...imap(), count: 1 });
        assert.ok(mail);
        assert.equal(mail.subject, "offline hello ☕");
        const parsed = await simpleParser(mail.source);
        assert.equal(parsed.text?.trim(), "offline hello ☕");
        assert.equal(parsed.from?.value[0]?.address, `bob@${DOMAIN}`);
        assert.equal(parsed.headers.get("x-xmpp-type"), "chat");
        assert.match(mail.source.toString(), /Content-Type: application\/xmpp\+xml; charset=utf-8/);
      } finally {
        await bob.stop();
      }
      // mod_offline kept it: alice gets it, with a XEP-0203 delay, when she comes online.
      const alice = await client("alice");
      try {
        const got = await alice.waitForStanza((s: { is(n: string): boolean; getChildText(n: string): string | null }) => s.is("message") && s.getChildText("body") === "offline hello ☕");
        assert.ok(got.getChild("delay", "urn:xmpp:delay"), "delivered from offline storage");
      } finally {
        await alice.stop();
      }
    });

    test("a normal message to an online user is delivered and archived; an online chat is not archived", async () => {
      const alice = await client("alice");
      const bob = await client("bob");
      try {
        const before = (await listMailbox(imap())).length;
        await bob.sendMessage({ to: `alice@${DOMAIN}`, type: "chat", body: "live chat, not archived" });
        await alice.waitForStanza((s: { getChildText(n: string): string | null }) => s.getChildText("body") === "live chat, not archived");
        await bob.sendMessage({ to: `alice@${DOMAIN}`, type: "normal", body: "normal while online", subject: "A normal one" });
        await alice.waitForStanza((s: { getChildText(n: string): string | null }) => s.getChildText("body") === "normal while online");
        await component.waitForLog(isStored(`alice@${DOMAIN}`, "normal"));
        // The normal message was sent after the chat over the same path, so once it is in the
        // mailbox the chat would have been too.
        const mails = await waitForMessages({ ...imap(), count: before + 1 });
        assert.equal(mails.length, before + 1);
        const subjects = mails.map((m) => m.subject);
        assert.ok(subjects.includes("A normal one"), `subjects: ${subjects.join(", ")}`);
        assert.ok(!mails.some((m) => m.source.toString().includes("live chat, not archived")));
      } finally {
        await bob.stop();
        await alice.stop();
      }
    });

    test("a message to user@component is archived into that user's mailbox", async () => {
      const carol = await client("carol");
      try {
        const before = (await listMailbox(imap())).length;
        await carol.sendMessage({ to: `alice@${COMPONENT}`, body: "straight to the archive", subject: "Direct" });
        await component.waitForLog(isStored(`alice@${DOMAIN}`, "direct"));
        const mails = await waitForMessages({ ...imap(), count: before + 1 });
        const direct = mails.find((m) => m.subject === "Direct");
        assert.ok(direct, "the direct message is in INBOX");
        assert.match(direct.source.toString(), new RegExp(`^To: alice@${COMPONENT.replaceAll(".", "\\.")}`, "m"));
      } finally {
        await carol.stop();
      }
    });

    test("a <forwarded/> from a user and an address that escapes the root are refused with stanza errors", async () => {
      const bob = await client("bob");
      try {
        const maildirs = await readdir(path.join(dir, "mail", DOMAIN));
        const rootEntries = await readdir(path.join(dir, "mail"));
        await bob.sendMessage({
          to: `alice@${COMPONENT}`,
          id: "forged-1",
          body: "trust me",
          extra: `<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='boss@${DOMAIN}' to='alice@${DOMAIN}'><body>forged</body></message></forwarded>`,
        });
        const forged = await bob.waitForStanza((s: { attrs: Record<string, string> }) => s.attrs.id === "forged-1" && s.attrs.type === "error");
        assert.ok(forged.getChild("error")?.getChild("not-allowed", "urn:ietf:params:xml:ns:xmpp-stanzas"));
        await component.waitForLog((l) => l.msg === "refused" && l.id === "forged-1");

        await bob.sendMessage({ to: `..@${COMPONENT}`, id: "escape-1", body: "climb out" });
        const escape = await bob.waitForStanza((s: { attrs: Record<string, string> }) => s.attrs.id === "escape-1" && s.attrs.type === "error");
        assert.ok(escape.getChild("error")?.getChild("jid-malformed", "urn:ietf:params:xml:ns:xmpp-stanzas"));
        await component.waitForLog((l) => l.msg === "refused" && l.id === "escape-1" && l.condition === "jid-malformed");
        assert.deepEqual(await readdir(path.join(dir, "mail", DOMAIN)), maildirs, "no new Maildir was created");
        assert.deepEqual(await readdir(path.join(dir, "mail")), rootEntries);
      } finally {
        await bob.stop();
      }
    });
  });

  describe(onServers(kind === "prosody" ? "connection handling" : `connection handling (${name})`), () => {
    test(`a component started before ${name} connects once it is up, and reconnects after a restart`, async () => {
      const dir = await makeTempDir("xmd-conn-");
      let stack: AnyStack | undefined;
      let component: ComponentProcess | undefined;
      try {
        stack = await startStack({ dir, users: ["alice", "bob"], server: kind });
        const { server } = stack;
        await server.stop();
        component = stack.component();
        await component.waitForLog((l) => l.msg === "not connected to the XMPP server; retrying");
        await server.start();
        await component.waitForLog((l) => l.msg === "connected to the XMPP server");

        await server.stop();
        await server.start();
        await waitForCount(component, (l) => l.msg === "connected to the XMPP server", 2);

        const bob = await connectClient({ port: server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
        try {
          await bob.sendMessage({ to: `alice@${DOMAIN}`, type: "chat", body: "after the restart" });
        } finally {
          await bob.stop();
        }
        await component.waitForLog(isStored(`alice@${DOMAIN}`, "offline"));
        const mails = await waitForMessages({ ...stack.imap("alice"), count: 1 });
        assert.equal(mails[0]?.subject, "after the restart");
      } finally {
        const code = component ? await component.stop() : 0;
        await stack?.stop();
        await removeDir(dir);
        assert.equal(code, 0, "component exits 0 on SIGTERM");
      }
    });

    test("a wrong secret is fatal: one clear log line and exit code 1", async () => {
      const dir = await makeTempDir("xmd-auth-");
      let stack: AnyStack | undefined;
      try {
        stack = await startStack({ dir, users: ["alice"], server: kind });
        const component = stack.component({ secret: "wrong-secret" });
        const line = await component.waitForLog((l) => l.level === 60);
        assert.match(line.msg, /refused the component \(not-authorized\).*secret/);
        assert.equal(await component.stop(), 1);
        assert.ok(!component.logs.some((l) => JSON.stringify(l).includes("wrong-secret")), "the secret never reaches a log");
      } finally {
        await stack?.stop();
        await removeDir(dir);
      }
    });
  });
}

async function waitForCount(component: ComponentProcess, pred: (l: { msg: string }) => boolean, count: number): Promise<void> {
  await component.waitForLog(() => component.logs.filter(pred).length >= count);
}
