// A mail client idling on INBOX (imapflow, as phones and desktop clients do) makes Dovecot move
// new mail from new/ to cur/, unread, at once. The push must still happen, with either trigger;
// and a mail the client has read (\Seen) before the component looked is never pushed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import { onServers } from "../../harness/generation.js";
import { pollUntil } from "../../harness/poll.js";
import { DOMAIN, startBridgeStack } from "../../harness/smtp-stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";
import type { ComponentProcess } from "../../harness/component.js";
import { pushedWithSubject, rawMail, subscribeToComponent } from "../support/bridge-mail.js";

/** Enough mails in a burst that the idling client moves some before the component reads them. */
const BURST = 30;

for (const trigger of ["fs", "push"] as const) {
  test(onServers(`--watch ${trigger}: every mail is pushed while an IMAP client idles on INBOX; mail it read first is not`), async () => {
    const dir = await makeTempDir(`xm-idle-${trigger}-`);
    const stack = await startBridgeStack({ dir, users: ["alice"], trigger });
    let xmpp: TestClient | undefined;
    let component: ComponentProcess | undefined;
    const account = stack.imap("alice");
    const imap = new ImapFlow({ host: "127.0.0.1", port: account.port, secure: false, doSTARTTLS: false, logger: false, auth: { user: account.user, pass: account.password } });
    imap.on("error", () => undefined);
    const smtp = nodemailer.createTransport({ host: "127.0.0.1", port: stack.postfix.smtpPort, secure: false, ignoreTLS: true });
    const alice = `alice@${DOMAIN}`;
    const inbox = path.join(stack.mailRoot, DOMAIN, "alice", "Maildir");
    const last: Record<string, string[]> = {};
    const names = async (sub: string) => (last[sub] = await readdir(path.join(inbox, sub)).catch(() => [] as string[]));
    const listing = () => `new/ ${(last.new ?? []).join(" ")}; cur/ ${(last.cur ?? []).join(" ")}`;
    const send = (subject: string) => smtp.sendMail({ envelope: { from: "carol@example.net", to: [alice] }, raw: rawMail({ from: "Carol <carol@example.net>", to: alice, subject, messageId: `<${subject.replace(/\W/g, "-")}@example.net>`, text: subject }) });
    try {
      component = stack.component();
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
      xmpp = await connectClient({ port: stack.prosody.c2sPort, domain: DOMAIN, username: "alice", password: stack.password });
      await subscribeToComponent(xmpp, component);

      // The mail client: INBOX selected read-write, idling (imapflow IDLEs while it has nothing to do).
      await imap.connect();
      await imap.mailboxOpen("INBOX");
      void imap.idle().catch(() => undefined);

      // A burst through the real MTA (Postfix → Dovecot LMTP).
      const subjects = Array.from({ length: BURST }, (_, i) => `burst ${i}`);
      await Promise.all(subjects.map((s) => send(s)));
      for (const s of subjects) await xmpp.waitForStanza(pushedWithSubject(s), 15_000);
      // The idling client really did take them all into cur/, unread.
      await pollUntil(async () => ((await names("new")).length === 0 && (await names("cur")).length >= BURST ? true : undefined), {
        timeoutMs: 10_000, intervalMs: 100, describe: listing,
      });
      assert.ok((await names("cur")).every((n) => !/:2,[A-Z]*S/.test(n)), "the client did not read them");
      const pushed = component.logs.filter((l) => l.outcome === "pushed" && l.user === alice);
      assert.equal(pushed.length, BURST, JSON.stringify(pushed));
      // The race this test is about happened: some were already in cur/ when the component read them.
      assert.ok(pushed.some((l) => l.dir === "cur"), `all were still in new/ when read: ${JSON.stringify(pushed.map((l) => l.dir))}`);

      // The component is down while two mails arrive; the client reads one of them (\Seen).
      await component.stop();
      component = undefined;
      await send("read in the mail client");
      await send("left unread");
      await pollUntil(async () => ((await names("new")).length === 0 && (await names("cur")).length >= BURST + 2 ? true : undefined), {
        timeoutMs: 10_000, intervalMs: 100, describe: listing,
      });
      const [read] = (await imap.search({ subject: "read in the mail client" }, { uid: true })) || [];
      assert.ok(read, "the client finds the mail");
      await imap.messageFlagsAdd(String(read), ["\\Seen"], { uid: true });
      await pollUntil(async () => ((await names("cur")).some((n) => /:2,[A-Z]*S/.test(n)) ? true : undefined), { timeoutMs: 5_000, intervalMs: 50, describe: listing });

      component = stack.component();
      await component.waitForLog((l) => l.msg.startsWith("user online") && l.user === alice);
      const seen = await component.waitForLog((l) => l.user === alice && l.outcome === "seen", 5_000);
      assert.equal(seen.dir, "cur");
      await send("marker");
      await xmpp.waitForStanza(pushedWithSubject("marker"), 10_000);
      const all = xmpp.received.filter((s) => s.is("message") && s.attrs.type === "normal").map((s) => s.getChildText("subject"));
      assert.ok(!all.includes("read in the mail client"), `pushed: ${all.join(", ")}`);
      assert.equal(all.filter((s) => s === "marker").length, 1);
      assert.equal(all.length, BURST + 1, `pushed: ${all.join(", ")}`);
    } finally {
      await imap.logout().catch(() => imap.close());
      smtp.close();
      await xmpp?.stop().catch(() => undefined);
      await component?.stop().catch(() => undefined);
      await stack.stop();
      await removeDir(dir);
    }
  });
}
