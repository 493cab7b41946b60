// Mail delivered by Dovecot's LMTP reaches the online user's real XMPP client, with either trigger:
// chokidar on the Maildir (--watch fs) or Dovecot's push_notification Lua driver (--watch push).
import { test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { chown, writeFile } from "node:fs/promises";
import path from "node:path";
import { listMailbox } from "../../harness/imap.js";
import { mailUser } from "../../harness/mail-user.js";
import { COMPONENT, DOMAIN, startBridgeStack } from "../../harness/smtp-stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";
import type { ComponentProcess } from "../../harness/component.js";
import { pushedWithSubject, rawMail, subscribeToComponent } from "../support/bridge-mail.js";

/** The bar: a delivered mail is on the user's screen within 2 s. */
const PUSH_DEADLINE_MS = 2_000;
const CAROL_JID = `carol\\40example.net@${COMPONENT}`;

for (const trigger of ["fs", "push"] as const) {
  test(onServers(`--watch ${trigger}: pushed once to online users only; never Seen, own or old mail; nothing again after a restart`), async () => {
    const dir = await makeTempDir(`xm-push-${trigger}-`);
    const stack = await startBridgeStack({ dir, users: ["alice", "bob"], trigger });
    const clients: TestClient[] = [];
    let component: ComponentProcess | undefined;
    try {
      const alice = `alice@${DOMAIN}`;
      const bob = `bob@${DOMAIN}`;
      // Mail from before the component ever ran: old news, never pushed.
      await stack.deliver(alice, rawMail({ from: "carol@example.net", to: alice, subject: "old", messageId: "<old@example.net>", text: "old" }));
      await stack.deliver(bob, rawMail({ from: "carol@example.net", to: bob, subject: "old", messageId: "<old-b@example.net>", text: "old" }));

      component = stack.component();
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
      const aliceClient = await connectClient({ port: stack.prosody.c2sPort, domain: DOMAIN, username: "alice", password: stack.password });
      clients.push(aliceClient);
      await subscribeToComponent(aliceClient, component);

      // An HTML-only mail to the online user.
      const sent = Date.now();
      await stack.deliver(alice, rawMail({ from: "Carol <carol@example.net>", to: alice, subject: "Lunch?", messageId: "<lunch@example.net>", html: "<p>Meet at <b>noon</b>?</p>" }));
      const pushed = await aliceClient.waitForStanza(pushedWithSubject("Lunch?"), 5_000);
      assert.ok(Date.now() - sent < PUSH_DEADLINE_MS, `pushed after ${Date.now() - sent} ms`);
      assert.equal(pushed.attrs.from, CAROL_JID);
      assert.match(pushed.getChildText("body") ?? "", /Meet at noon\?/);
      const url = pushed.getChild("x", "jabber:x:oob")?.getChildText("url") ?? "";
      assert.match(url, new RegExp(`^imap://alice%40example\\.test@127\\.0\\.0\\.1:${stack.dovecot.imapPort}/INBOX;UIDVALIDITY=\\d+/;UID=(\\d+)$`));
      // The URL names the message IMAP really has under that UID.
      const uid = Number(/UID=(\d+)$/.exec(url)![1]);
      const inbox = await listMailbox(stack.imap("alice"));
      assert.equal(inbox.find((m) => m.uid === uid)?.subject, "Lunch?");

      // Offline user: nothing is sent, the mail is waiting in IMAP, once.
      await stack.deliver(bob, rawMail({ from: "carol@example.net", to: bob, subject: "For Bob", messageId: "<bob1@example.net>", text: "hi bob" }));
      await component.waitForLog((l) => l.user === bob && l.outcome === "offline");
      const bobInbox = await listMailbox(stack.imap("bob"));
      assert.equal(bobInbox.filter((m) => m.subject === "For Bob").length, 1);

      // A mail already flagged Seen, and the component's own archived copy: neither is pushed.
      const user = mailUser();
      const seenFile = path.join(stack.mailRoot, DOMAIN, "alice", "Maildir", "new", `${Date.now()}.seen.test:2,S`);
      await writeFile(seenFile, rawMail({ from: "carol@example.net", to: alice, subject: "already seen", messageId: "<seen@example.net>", text: "seen" }));
      await chown(seenFile, user.uid, user.gid);
      await aliceClient.sendMessage({ to: `alice@${COMPONENT}`, type: "normal", subject: "note to self", body: "archived, not pushed" });
      await component.waitForLog((l) => l.msg === "stored" && l.user === alice);
      await stack.deliver(alice, rawMail({ from: "carol@example.net", to: alice, subject: "marker 1", messageId: "<m1@example.net>", text: "m1" }));
      await aliceClient.waitForStanza(pushedWithSubject("marker 1"));
      // The scan handles new/ in name order, and marker 1's name sorts before the Seen file's: its
      // push can reach the client before the "seen" line reaches our log pipe. Wait for the lines.
      await component.waitForLog((l) => l.user === alice && l.outcome === "seen", 5_000);
      await component.waitForLog((l) => l.user === alice && l.outcome === "own", 5_000);

      // Restart: nothing pushed again; new mail still is.
      await component.stop();
      component = stack.component();
      await component.waitForLog((l) => l.msg.startsWith("user online") && l.user === alice);
      await stack.deliver(alice, rawMail({ from: "carol@example.net", to: alice, subject: "marker 2", messageId: "<m2@example.net>", text: "m2" }));
      await aliceClient.waitForStanza(pushedWithSubject("marker 2"));

      // Bob comes online later: his earlier mail is not sent now, his next one is.
      const bobClient = await connectClient({ port: stack.prosody.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
      clients.push(bobClient);
      await subscribeToComponent(bobClient, component);
      await stack.deliver(bob, rawMail({ from: "carol@example.net", to: bob, subject: "marker b", messageId: "<mb@example.net>", text: "mb" }));
      await bobClient.waitForStanza(pushedWithSubject("marker b"));

      const subjects = (c: TestClient) => c.received.filter((s) => s.is("message") && s.attrs.type === "normal").map((s) => s.getChildText("subject"));
      assert.deepEqual(subjects(aliceClient), ["Lunch?", "marker 1", "marker 2"]);
      assert.deepEqual(subjects(bobClient), ["marker b"]);
    } finally {
      for (const c of clients) await c.stop().catch(() => undefined);
      await component?.stop().catch(() => undefined);
      await stack.stop();
      await removeDir(dir);
    }
  });
}
