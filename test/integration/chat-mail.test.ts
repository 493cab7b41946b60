// Chat-over-email (a mail with Chat-Version, as Delta Chat sends it) reaches the XMPP user as a
// chat with the sender, through the real Postfix and Dovecot; their answers go back as
// chat-over-email, each threaded to the last message of the conversation, with a subject that
// does not grow.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import nodemailer from "nodemailer";
import { onServers } from "../../harness/generation.js";
import { pollUntil } from "../../harness/poll.js";
import { COMPONENT, DOMAIN, REMOTE_DOMAIN, startBridgeStack } from "../../harness/smtp-stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";
import type { ComponentProcess } from "../../harness/component.js";
import { subscribeToComponent } from "../support/bridge-mail.js";

const CAROL_JID = `carol\\40${REMOTE_DOMAIN}@${COMPONENT}`;

test(onServers("a Chat-Version mail is pushed as a chat from the sender; replies go out as chat-over-email threaded to the last message"), async () => {
  const dir = await makeTempDir("xm-chatmail-");
  const stack = await startBridgeStack({ dir, users: ["alice"], trigger: "fs" });
  let client: TestClient | undefined;
  let component: ComponentProcess | undefined;
  const smtp = nodemailer.createTransport({ host: "127.0.0.1", port: stack.postfix.smtpPort, secure: false, ignoreTLS: true });
  const alice = `alice@${DOMAIN}`;
  const carolNew = path.join(stack.mailRoot, REMOTE_DOMAIN, "carol", "Maildir", "new");
  const carolMail = async (n: number) =>
    pollUntil(
      async () => {
        const names = (await readdir(carolNew).catch(() => [] as string[])).sort();
        if (names.length < n) return undefined;
        // Unfolded (RFC 5322 §2.2.3): a long References is folded onto several lines.
        const texts = (await Promise.all(names.map((f) => readFile(path.join(carolNew, f), "utf8")))).map((t) => t.replace(/\r?\n[ \t]+/g, " "));
        return texts.sort((a, b) => Date.parse(/^Date: (.*)$/m.exec(a)?.[1] ?? "") - Date.parse(/^Date: (.*)$/m.exec(b)?.[1] ?? ""));
      },
      { timeoutMs: 15_000, intervalMs: 100, describe: () => `${n} mail(s) for carol; postfix:\n${stack.postfix.output()}` },
    );
  try {
    component = stack.component();
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    client = await connectClient({ port: stack.prosody.c2sPort, domain: DOMAIN, username: "alice", password: stack.password });
    await subscribeToComponent(client, component);

    // What Delta Chat sends to a new contact, through the real MTA.
    await smtp.sendMail({
      envelope: { from: `carol@${REMOTE_DOMAIN}`, to: [alice] },
      raw: [
        `From: Carol <carol@${REMOTE_DOMAIN}>`, `To: ${alice}`, "Subject: Message from Carol", `Message-ID: <dc1@${REMOTE_DOMAIN}>`,
        `Date: ${new Date().toUTCString()}`, "Chat-Version: 1.0", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", "Hi Alice!", "",
      ].join("\r\n"),
    });
    const pushed = await client.waitForStanza((s) => s.is("message") && s.attrs.from === CAROL_JID && s.attrs.type === "chat", 10_000);
    assert.equal(pushed.getChildText("body"), "Hi Alice!");
    assert.equal(pushed.getChild("subject"), undefined);

    // Alice answers twice in the chat, as a chat client does (no <thread>).
    await client.sendMessage({ to: CAROL_JID, type: "chat", body: "Hi Carol!" });
    const [first] = await carolMail(1);
    assert.match(first!, /^Chat-Version: 1\.0$/m);
    assert.match(first!, /^Subject: Re: Message from Carol$/m);
    assert.match(first!, /^In-Reply-To: <dc1@example\.net>$/m);
    assert.match(first!, /^From: alice@example\.test$/m);
    const firstId = /^Message-ID: (<[^>]+>)$/m.exec(first!)![1]!;

    await client.sendMessage({ to: CAROL_JID, type: "chat", body: "How are you?" });
    const second = (await carolMail(2)).find((t) => t.includes("How are you?"))!;
    assert.match(second, /^Chat-Version: 1\.0$/m);
    assert.match(second, /^Subject: Re: Message from Carol$/m);
    assert.equal(/^In-Reply-To: (.*)$/m.exec(second)?.[1], firstId);
    assert.equal(/^References: (.*)$/m.exec(second)?.[1], `<dc1@example.net> ${firstId}`);
  } finally {
    smtp.close();
    await client?.stop().catch(() => undefined);
    await component?.stop().catch(() => undefined);
    await stack.stop();
    await removeDir(dir);
  }
});
