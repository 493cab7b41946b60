// The README's demo: a throwaway Prosody and Dovecot on loopback in a temp dir, the component
// (the real CLI, as the mail user), a real XMPP client sending to an offline user, and then that
// user's mailbox read back over IMAP. Everything is stopped and removed at the end.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { simpleParser } from "mailparser";
import { startComponent, type ComponentProcess } from "../harness/component.js";
import { startDovecot } from "../harness/dovecot.js";
import { dovecotSyntax, dovecotVersion, variables24 } from "../harness/dovecot-syntax.js";
import { currentGeneration, serverVersions } from "../harness/generation.js";
import { waitForMessages } from "../harness/imap.js";
import { mailUser } from "../harness/mail-user.js";
import { repoRoot } from "../harness/paths.js";
import { startProsody } from "../harness/prosody.js";
import { makeTempDir, removeDir } from "../harness/tmp.js";
import { connectClient } from "../harness/xmpp-client.js";

const DOMAIN = "example.test";
const COMPONENT = "archive.example.test";

function step(text: string): void {
  console.log(`\n==> ${text}`);
}

async function main(): Promise<void> {
  const generation = currentGeneration();
  console.log(`Servers: ${generation.name}, ${generation.root === undefined ? "the host's packages" : `from ${generation.root}`}`);
  const dir = await makeTempDir("xmpp-maildir-demo-");
  const password = randomBytes(6).toString("hex");
  const secret = randomBytes(12).toString("hex");
  const user = mailUser();
  const template = path.join(dir, "mail", "%d", "%n", "Maildir");
  // The component takes the template as the admin copies it from dovecot.conf: 2.4's
  // %{user | domain} form where Dovecot 2.4 runs, 2.3's %d form otherwise.
  const syntax = dovecotSyntax();
  const componentTemplate = syntax === "2.4" ? variables24(template) : template;
  const dovecotSetting = syntax === "2.4" ? `mail_driver = maildir, mail_path = ${componentTemplate}` : `mail_location = maildir:${template}`;
  const stops: Array<() => Promise<unknown>> = [];
  let component: ComponentProcess | undefined;
  try {
    step(`Starting Dovecot ${dovecotVersion()} (IMAP) on loopback, ${dovecotSetting}, mail user ${user.name}`);
    const dovecot = await startDovecot({ dir: path.join(dir, "dovecot"), maildirTemplate: template, users: [{ user: `alice@${DOMAIN}`, password }], uid: user.uid, gid: user.gid });
    stops.push(() => dovecot.stop());
    console.log(`    IMAP on 127.0.0.1:${dovecot.imapPort}`);

    step(`Starting Prosody ${serverVersions()["prosody"] ?? ""} for ${DOMAIN} with mod_xmpp_maildir and Component "${COMPONENT}"`);
    const prosody = await startProsody({
      dir: path.join(dir, "prosody"),
      domain: DOMAIN,
      componentDomain: COMPONENT,
      componentSecret: secret,
      users: [{ username: "alice", password }, { username: "bob", password }],
      pluginPath: path.join(repoRoot(), "server", "prosody"),
      modules: ["xmpp_maildir"],
      extraHostConfig: `xmpp_maildir_component = "${COMPONENT}"`,
    });
    stops.push(() => prosody.stop());
    console.log(`    client port 127.0.0.1:${prosody.c2sPort}, component port 127.0.0.1:${prosody.componentPort}`);

    step(`Running: xmpp-maildir run --domain ${COMPONENT} --xmpp-port ${prosody.componentPort} --maildir '${componentTemplate}'`);
    component = startComponent({ xmppPort: prosody.componentPort, domain: COMPONENT, maildir: componentTemplate, secret, uid: user.uid, gid: user.gid });
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    console.log("    component connected");

    step(`bob@${DOMAIN} sends a chat message to alice@${DOMAIN}, who is offline`);
    const bob = await connectClient({ port: prosody.c2sPort, domain: DOMAIN, username: "bob", password });
    await bob.sendMessage({ to: `alice@${DOMAIN}`, type: "chat", body: "Hi Alice! This reached you while you were offline. Grüße ☕" });
    await bob.stop();
    const stored = await component.waitForLog((l) => l.msg === "stored");
    console.log(`    component log: stored for ${String(stored.user)} in ${String(stored.folder)}, ${String(stored.bytes)} bytes, ${String(stored.ms)} ms`);

    step(`Reading alice@${DOMAIN}'s INBOX over IMAP`);
    const [mail] = await waitForMessages({ port: dovecot.imapPort, user: `alice@${DOMAIN}`, password, count: 1 });
    if (!mail) throw new Error("no mail in INBOX");
    const parsed = await simpleParser(mail.source);
    console.log(`    From:       ${parsed.from?.text ?? ""}`);
    console.log(`    Subject:    ${parsed.subject ?? ""}`);
    console.log(`    Date:       ${parsed.date?.toISOString() ?? ""}`);
    console.log(`    Message-ID: ${parsed.messageId ?? ""}`);
    console.log(`    Text:       ${parsed.text?.trim() ?? ""}`);
    const types = [...mail.source.toString().matchAll(/^Content-Type: ([^;\r\n]+)/gm)].map((m) => m[1]);
    console.log(`    MIME parts: ${types.join(", ")}`);
    const stanza = parsed.attachments.find((a) => a.contentType === "application/xmpp+xml");
    console.log(`    Stanza:     ${stanza ? stanza.content.toString("utf8").replace(/\n/g, "\n                ") : "(missing)"}`);
    console.log("\nDemo OK: the offline message was archived and read back over IMAP.");
  } finally {
    if (component) await component.stop();
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
    await removeDir(dir);
  }
}

main().catch((err: unknown) => {
  console.error(`\nDemo FAILED: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exitCode = 1;
});
