// Read state follows the user: the XMPP client says it showed a pushed mail (XEP-0333 displayed,
// or a XEP-0184 receipt), and a real IMAP client then sees that mail \Seen, with the flags it set
// itself kept, even though it had moved the mail to cur/ meanwhile.
import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { ImapFlow } from "imapflow";
import { onServers } from "../../harness/generation.js";
import { listMailbox } from "../../harness/imap.js";
import { pollUntil } from "../../harness/poll.js";
import { COMPONENT, DOMAIN, startBridgeStack } from "../../harness/smtp-stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";
import type { ComponentProcess } from "../../harness/component.js";
import { pushedWithSubject, rawMail, subscribeToComponent } from "../support/bridge-mail.js";

const MARKERS = "urn:xmpp:chat-markers:0";
const RECEIPTS = "urn:xmpp:receipts";
const CAROL_JID = `carol\\40example.net@${COMPONENT}`;
const DAVE_JID = `dave\\40example.net@${COMPONENT}`;

test(onServers("a displayed marker or a receipt from the XMPP client makes the pushed mail \\Seen for IMAP; other flags are kept"), async () => {
  const dir = await makeTempDir("xm-markers-");
  const stack = await startBridgeStack({ dir, users: ["alice"], trigger: "fs" });
  let xmpp: TestClient | undefined;
  let component: ComponentProcess | undefined;
  const account = stack.imap("alice");
  const imap = new ImapFlow({ host: "127.0.0.1", port: account.port, secure: false, doSTARTTLS: false, logger: false, auth: { user: account.user, pass: account.password } });
  imap.on("error", () => undefined);
  const alice = `alice@${DOMAIN}`;
  // \Recent depends on which session saw the mail first (RFC 3501 §2.3.2), not on us.
  const flagsOf = async (subject: string) => ((await listMailbox(account)).find((m) => m.subject === subject)?.flags ?? []).filter((f) => f !== "\\Recent");
  try {
    component = stack.component();
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    xmpp = await connectClient({ port: stack.prosody.c2sPort, domain: DOMAIN, username: "alice", password: stack.password });
    await subscribeToComponent(xmpp, component);

    // disco#info on the sender's JID names both ways of saying "read".
    await xmpp.send(xml("iq", { type: "get", to: CAROL_JID, id: "disco1" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
    const info = await xmpp.waitForStanza((s) => s.is("iq") && s.attrs.id === "disco1");
    assert.equal(info.attrs.type, "result", info.toString());
    const features = info.getChild("query")!.getChildren("feature").map((f) => f.attrs.var as string);
    assert.ok(features.includes(MARKERS) && features.includes(RECEIPTS), features.join(" "));

    const deliver = async (from: string, subject: string) => {
      await stack.deliver(alice, rawMail({ from, to: alice, subject, messageId: `<${subject.replace(/\W/g, "-")}@example.net>`, text: subject }));
      return xmpp!.waitForStanza(pushedWithSubject(subject));
    };
    const first = await deliver("carol@example.net", "first from carol");
    const second = await deliver("carol@example.net", "second from carol");
    const fromDave = await deliver("dave@example.net", "from dave");
    for (const p of [first, second, fromDave]) {
      assert.ok(p.getChild("markable", MARKERS), p.toString());
      assert.ok(p.getChild("request", RECEIPTS), p.toString());
    }

    // A mail client opens INBOX (Dovecot moves the mails to cur/) and flags the first one.
    await imap.connect();
    await imap.mailboxOpen("INBOX");
    const [firstUid] = (await imap.search({ subject: "first from carol" }, { uid: true })) || [];
    assert.ok(firstUid);
    await imap.messageFlagsAdd(String(firstUid), ["\\Flagged"], { uid: true });
    assert.deepEqual(await flagsOf("first from carol"), ["\\Flagged"]);

    // A marker for an id we never pushed: a debug line, nothing changes.
    await xmpp.send(xml("message", { to: CAROL_JID, id: "m0" }, xml("displayed", { xmlns: MARKERS, id: "never-pushed" })));
    await component.waitForLog((l) => l.msg.startsWith("read marker for a message we did not push") && l.id === "never-pushed");

    // Displayed on Carol's second mail: both of hers are read (XEP-0333 §4), Dave's is not.
    await xmpp.send(xml("message", { to: CAROL_JID, id: "m1" }, xml("displayed", { xmlns: MARKERS, id: second.attrs.id })));
    await pollUntil(async () => ((await flagsOf("second from carol")).includes("\\Seen") ? true : undefined), { timeoutMs: 5_000, intervalMs: 100, describe: () => "second from carol \\Seen" });
    assert.deepEqual(await flagsOf("first from carol"), ["\\Flagged", "\\Seen"]);
    // The IMAP session that had it open sees the change too, at its next sync (NOOP, RFC 3501 §6.1.2).
    await imap.noop();
    const live = await imap.fetchOne(String(firstUid), { flags: true }, { uid: true });
    assert.ok(live && live.flags?.has("\\Seen") && live.flags.has("\\Flagged"), JSON.stringify(live && [...(live.flags ?? [])]));
    assert.deepEqual(await flagsOf("from dave"), []);

    // A XEP-0184 receipt for Dave's.
    await xmpp.send(xml("message", { to: DAVE_JID, id: "m2" }, xml("received", { xmlns: RECEIPTS, id: fromDave.attrs.id })));
    await pollUntil(async () => ((await flagsOf("from dave")).includes("\\Seen") ? true : undefined), { timeoutMs: 5_000, intervalMs: 100, describe: () => "from dave \\Seen" });

    // A receipt sent to the wrong conversation changes nothing.
    const third = await deliver("carol@example.net", "third from carol");
    await xmpp.send(xml("message", { to: DAVE_JID, id: "m3" }, xml("received", { xmlns: RECEIPTS, id: third.attrs.id })));
    await component.waitForLog((l) => l.msg.startsWith("read marker for a message we did not push") && l.id === third.attrs.id);
    assert.deepEqual(await flagsOf("third from carol"), []);
    // No marker made the component answer with an error, or send mail.
    assert.equal(xmpp.received.filter((s) => s.attrs.type === "error").length, 0);
    assert.ok(!component.logs.some((l) => l.msg === "mail sent" || l.msg === "mail not sent"));
  } finally {
    await imap.logout().catch(() => imap.close());
    await xmpp?.stop().catch(() => undefined);
    await component?.stop().catch(() => undefined);
    await stack.stop();
    await removeDir(dir);
  }
});
