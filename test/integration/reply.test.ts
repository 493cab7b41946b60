// A user answers a pushed mail from XMPP: the component sends it through a real Postfix on
// loopback, which relays it to Dovecot's LMTP; the reply threads onto the mail, a copy is in the
// sender's Sent folder, and SMTP refusals come back as stanza errors with the server's reason.
import { test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { xml } from "@xmpp/client";
import { listMailbox } from "../../harness/imap.js";
import { pollUntil } from "../../harness/poll.js";
import { COMPONENT, DOMAIN, REMOTE_DOMAIN, startBridgeStack } from "../../harness/smtp-stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";
import type { ComponentProcess } from "../../harness/component.js";
import { pushedWithSubject, rawMail, subscribeToComponent } from "../support/bridge-mail.js";

const CAROL_JID = `carol\\40${REMOTE_DOMAIN}@${COMPONENT}`;

test(onServers("a reply from XMPP goes out by SMTP with In-Reply-To, lands in the recipient's Maildir and in Sent; refusals are stanza errors"), async () => {
  const dir = await makeTempDir("xm-reply-");
  const stack = await startBridgeStack({ dir, users: ["alice"], trigger: "fs" });
  let client: TestClient | undefined;
  let component: ComponentProcess | undefined;
  try {
    const alice = `alice@${DOMAIN}`;
    component = stack.component();
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    client = await connectClient({ port: stack.prosody.c2sPort, domain: DOMAIN, username: "alice", password: stack.password });
    await subscribeToComponent(client, component);

    // Two mails from Carol; the reply names the first one's <thread>, so it answers that one
    // and not simply the last mail from her.
    await stack.deliver(alice, rawMail({ from: `carol@${REMOTE_DOMAIN}`, to: alice, subject: "Lunch?", messageId: "<lunch@example.net>", text: "noon?" }));
    const first = await client.waitForStanza(pushedWithSubject("Lunch?"));
    await stack.deliver(alice, rawMail({ from: `carol@${REMOTE_DOMAIN}`, to: alice, subject: "Other", messageId: "<other@example.net>", text: "x" }));
    await client.waitForStanza(pushedWithSubject("Other"));
    const thread = first.getChildText("thread");
    assert.ok(thread);

    await client.sendMessage({ to: CAROL_JID, type: "normal", body: "Noon is fine.", extra: xml("thread", {}, thread) });
    const carolNew = path.join(stack.mailRoot, REMOTE_DOMAIN, "carol", "Maildir", "new");
    const reply = await pollUntil(
      async () => {
        const names = await readdir(carolNew).catch(() => [] as string[]);
        return names[0] === undefined ? undefined : readFile(path.join(carolNew, names[0]), "utf8");
      },
      { timeoutMs: 15_000, intervalMs: 100, describe: () => `a mail in ${carolNew}; postfix log:\n${stack.postfix.output()}` },
    );
    assert.match(reply, /^In-Reply-To: <lunch@example\.net>$/m);
    assert.match(reply, /^References: <lunch@example\.net>$/m);
    assert.match(reply, /^From: alice@example\.test$/m);
    assert.match(reply, /^Subject: Re: Lunch\?$/m);
    assert.match(reply, /Noon is fine\./);
    const messageId = /^Message-ID: (<[^>]+>)$/m.exec(reply)?.[1];

    // The same mail, seen, in Alice's Sent folder over IMAP.
    const sent = await listMailbox(stack.imap("alice", "Sent"));
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.messageId, messageId);
    assert.ok(sent[0]!.flags.includes("\\Seen"), `flags ${sent[0]!.flags.join(" ")}`);

    // Postfix refuses relaying to any other domain: the user gets its 554 as a stanza error.
    const id = await client.sendMessage({ to: `dave\\40elsewhere.invalid@${COMPONENT}`, type: "normal", body: "hello?" });
    const bounce = await client.waitForStanza((s) => s.is("message") && s.attrs.type === "error" && s.attrs.id === id, 10_000);
    const error = bounce.getChild("error")!;
    assert.equal(error.attrs.type, "cancel");
    assert.ok(error.getChild("not-acceptable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
    assert.match(error.getChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas") ?? "", /554.*Relay access denied/);
    // Nothing was saved in Sent for the refused mail.
    assert.equal((await listMailbox(stack.imap("alice", "Sent"))).length, 1);
  } finally {
    await client?.stop().catch(() => undefined);
    await component?.stop().catch(() => undefined);
    await stack.stop();
    await removeDir(dir);
  }
});
