// Replay and import end to end: a real Prosody with our module archives through the real CLI, then
// `xmpp-maildir replay` plays the archive into another Maildir tree and back into XMPP (a real client
// counts what arrives), resumes from a checkpoint, and `xmpp-maildir import` brings a real Prosody
// offline store into Maildirs that a real Dovecot serves over IMAP.
import { after, before, describe, test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { chmod, chown, mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { simpleParser } from "mailparser";
import { startComponent, type ComponentProcess } from "../../harness/component.js";
import { startDovecot } from "../../harness/dovecot.js";
import { listMailbox, waitForMessages } from "../../harness/imap.js";
import { mailUser } from "../../harness/mail-user.js";
import { repoRoot } from "../../harness/paths.js";
import { pollUntil } from "../../harness/poll.js";
import { startProsody } from "../../harness/prosody.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type Element, type TestClient } from "../../harness/xmpp-client.js";
import { runCli, startCli } from "../support/cli.js";

const DOMAIN = "example.test";
const COMPONENT = "archive.example.test";
const PASSWORD = "pw-" + randomBytes(4).toString("hex");
const USERS = ["alice", "bob", "carol", "dave"];
const N = 4;
/** Covers a Prosody round trip on a loaded 2-core machine. */
const WAIT_MS = 15_000;

type Prosody = Awaited<ReturnType<typeof startProsody>>;
type Dovecot = Awaited<ReturnType<typeof startDovecot>>;

const forwardedFromComponent = (s: Element) => s.is("message") && s.attrs.from === COMPONENT && Boolean(s.getChild("forwarded", "urn:xmpp:forward:0"));
const innerId = (s: Element) => s.getChild("forwarded", "urn:xmpp:forward:0")?.getChild("message")?.attrs.id ?? "";

/** Every stanza the server sent before this returns has reached the client (one c2s stream is ordered). */
async function barrier(client: TestClient): Promise<void> {
  const id = `barrier-${randomBytes(4).toString("hex")}`;
  const { xml } = await import("@xmpp/client");
  await client.send(xml("iq", { type: "get", id, to: DOMAIN }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  await client.waitForStanza((s) => s.attrs.id === id, WAIT_MS);
}

async function xmlParts(maildir: string): Promise<Map<string, { xml: string; date: Date | undefined }>> {
  const parts = new Map<string, { xml: string; date: Date | undefined }>();
  for (const sub of ["new", "cur"]) {
    for (const name of await readdir(path.join(maildir, sub)).catch(() => [] as string[])) {
      const mail = await simpleParser(await readFile(path.join(maildir, sub, name)));
      const part = mail.attachments.find((a) => a.contentType === "application/xmpp+xml");
      assert.ok(part && mail.messageId, `${name} has an XMPP part and a Message-ID`);
      parts.set(mail.messageId, { xml: part.content.toString("utf8"), date: mail.date });
    }
  }
  return parts;
}

describe(onServers("replay from an archive made by the real component"), () => {
  let dir: string;
  let prosody: Prosody;
  let template: string;
  const secret = randomBytes(12).toString("hex");
  const client = (username: string) => connectClient({ port: prosody.c2sPort, domain: DOMAIN, username, password: PASSWORD });
  const xmppArgs = () => ["--domain", COMPONENT, "--xmpp-port", String(prosody.componentPort)];
  const env = () => ({ XMPP_MAILDIR_SECRET: secret });

  before(async () => {
    dir = await makeTempDir("xmd-replay-");
    template = path.join(dir, "mail", "%d", "%n", "Maildir");
    prosody = await startProsody({
      dir: path.join(dir, "prosody"), domain: DOMAIN, componentDomain: COMPONENT, componentSecret: secret,
      users: USERS.map((username) => ({ username, password: PASSWORD })),
      pluginPath: path.join(repoRoot(), "server", "prosody"), modules: ["xmpp_maildir"],
      extraHostConfig: `xmpp_maildir_component = "${COMPONENT}"`,
    });
    const user = mailUser();
    // The component runs as the mail user and keeps its state in the Maildir root, as in production.
    await mkdir(path.join(dir, "mail"), { mode: 0o700 });
    await chown(path.join(dir, "mail"), user.uid, user.gid);
    const component: ComponentProcess = startComponent({ xmppPort: prosody.componentPort, domain: COMPONENT, maildir: template, secret, uid: user.uid, gid: user.gid });
    try {
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
      const bob = await client("bob");
      try {
        for (let i = 1; i <= N; i++) await bob.sendMessage({ to: `alice@${DOMAIN}`, type: "chat", body: `archived ${i} ☕ <&>`, id: `orig-${i}` });
      } finally {
        await bob.stop();
      }
      await component.waitForLog(() => component.logs.filter((l) => l.msg === "stored").length >= N);
    } finally {
      // Replay connects as the same component: only one may be connected at a time.
      const code = await component.stop();
      assert.equal(code, 0, `component stderr: ${component.stderr()}; last logs: ${component.logs.slice(-5).map((l) => JSON.stringify(l)).join("\n")}`);
    }
  });

  after(async () => {
    await prosody?.stop();
    await removeDir(dir);
  });

  test("round trip 1: --to-maildir gives byte-identical XML parts, and a second run writes nothing", async () => {
    const out = path.join(dir, "replayed", "%d", "%n", "Maildir");
    const first = await runCli(["replay", template, "--to-maildir", out, "--domain", COMPONENT]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, new RegExp(`replay finished in [\\d.]+ s: ${N} replayed, 0 skipped, 0 failed`));
    const original = await xmlParts(path.join(dir, "mail", DOMAIN, "alice", "Maildir"));
    const replayed = await xmlParts(path.join(dir, "replayed", DOMAIN, "alice", "Maildir"));
    assert.equal(original.size, N);
    assert.deepEqual([...replayed.keys()].sort(), [...original.keys()].sort(), "same Message-IDs");
    for (const [id, part] of original) assert.equal(replayed.get(id)?.xml, part.xml, `XML part of ${id}`);

    const second = await runCli(["replay", template, "--to-maildir", out, "--domain", COMPONENT]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, new RegExp(`0 replayed, ${N} skipped, 0 failed`));
    assert.equal((await xmlParts(path.join(dir, "replayed", DOMAIN, "alice", "Maildir"))).size, N);
  });

  test("round trip 2: a real client receives each message once, forwarded with its original delay stamp", async () => {
    const original = await xmlParts(path.join(dir, "mail", DOMAIN, "alice", "Maildir"));
    const expected = new Map([...original.values()].map((p) => [/ id="([^"]+)"/.exec(p.xml)![1]!, p.date!.toISOString()]));
    const alice = await client("alice");
    try {
      const run = await runCli(["replay", template, "--user", `alice@${DOMAIN}`, ...xmppArgs()], { env: env() });
      assert.equal(run.code, 0, run.stderr);
      await pollUntil(async () => (alice.received.filter(forwardedFromComponent).length >= N ? true : undefined), { timeoutMs: WAIT_MS, intervalMs: 50, describe: () => `${N} forwarded messages` });
      await barrier(alice);
      const got = alice.received.filter(forwardedFromComponent);
      assert.equal(got.length, N, "each message exactly once");
      for (const s of got) {
        const stamp = s.getChild("forwarded", "urn:xmpp:forward:0")?.getChild("delay", "urn:xmpp:delay")?.attrs.stamp;
        assert.equal(stamp, expected.get(innerId(s)), `delay of ${innerId(s)}`);
      }
      assert.deepEqual(got.map(innerId), [...expected.keys()].sort(), "in original order");
    } finally {
      await alice.stop();
    }
  });

  test("an interrupted replay resumes from its checkpoint without duplicates; progress and summary are reported", async () => {
    const carol = await client("carol");
    const checkpoint = path.join(dir, "replay.checkpoint");
    const args = ["replay", template, "--to", `carol@${DOMAIN}`, "--rate", "4", "--checkpoint", checkpoint, "--progress-interval", "0.2", ...xmppArgs()];
    try {
      const first = startCli(args, { env: env() });
      await pollUntil(async () => (carol.received.filter(forwardedFromComponent).length >= 2 ? true : undefined), { timeoutMs: WAIT_MS, intervalMs: 20, describe: () => "2 messages before the interruption" });
      first.child.kill("SIGINT");
      const stopped = await first.exited;
      assert.equal(stopped.code, 130, stopped.stderr);
      assert.match(stopped.stderr, /replay interrupted in [\d.]+ s: \d replayed/);
      const progress = stopped.stderr.split("\n").filter((l) => l.includes('"msg":"progress"')).map((l) => JSON.parse(l) as { done: number; total: number; perSecond: number });
      assert.ok(progress.length >= 1, `periodic progress lines: ${stopped.stderr}`);
      assert.equal(progress[0]!.total, N);

      const second = await runCli(args, { env: env() });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /already done per checkpoint/);
      await pollUntil(async () => (carol.received.filter(forwardedFromComponent).length >= N ? true : undefined), { timeoutMs: WAIT_MS, intervalMs: 50, describe: () => `${N} messages in all` });
      await barrier(carol);
      const ids = carol.received.filter(forwardedFromComponent).map(innerId);
      assert.deepEqual(ids.sort(), Array.from({ length: N }, (_, i) => `orig-${i + 1}`), "each once, none twice");
    } finally {
      await carol.stop();
    }
  });
});

describe(onServers("import of a real Prosody offline store"), () => {
  test("messages stored offline by Prosody are readable over IMAP, and a second import adds nothing", async () => {
    const dir = await makeTempDir("xmd-import-");
    const user = mailUser();
    const template = path.join(dir, "mail", "%d", "%n", "Maildir");
    let prosody: Prosody | undefined;
    let dovecot: Dovecot | undefined;
    try {
      dovecot = await startDovecot({ dir: path.join(dir, "dovecot"), maildirTemplate: template, users: [{ user: `dave@${DOMAIN}`, password: PASSWORD }], uid: user.uid, gid: user.gid });
      // A plain Prosody: mod_offline keeps what dave receives while offline, nothing else runs.
      prosody = await startProsody({ dir: path.join(dir, "prosody"), domain: DOMAIN, componentDomain: COMPONENT, componentSecret: "unused", users: USERS.map((username) => ({ username, password: PASSWORD })) });
      const bob = await connectClient({ port: prosody.c2sPort, domain: DOMAIN, username: "bob", password: PASSWORD });
      const bodies = ["first offline", "zweite ☕ Nachricht", "third <b>&amp;</b>"];
      try {
        for (const [i, body] of bodies.entries()) await bob.sendMessage({ to: `dave@${DOMAIN}`, type: i === 2 ? "normal" : "chat", body, id: `off-${i}` });
      } finally {
        await bob.stop();
      }
      const store = path.join(dir, "prosody", "data", "example%2etest", "offline", "dave.list");
      await pollUntil(async () => ((await readFile(store, "utf8").catch(() => "")).split("item(").length - 1 >= bodies.length ? true : undefined), { timeoutMs: WAIT_MS, intervalMs: 50, describe: () => `${bodies.length} items in ${store}` });
      await prosody.stop();
      // The import runs as the mail user, as the component does, so Dovecot can read what it writes.
      execFileSync("chmod", ["-R", "a+rX", path.join(dir, "prosody", "data")]);
      await chmod(path.join(dir, "prosody"), 0o755);
      const args = ["import", path.join(dir, "prosody", "data"), "--store", "offline", "--maildir", template, "--domain", COMPONENT];
      const first = await runCli(args, { uid: user.uid, gid: user.gid });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /import finished in [\d.]+ s: 3 imported, 0 skipped, 0 failed/);
      const mails = await waitForMessages({ port: dovecot.imapPort, user: `dave@${DOMAIN}`, password: PASSWORD, count: bodies.length });
      const parsed = await Promise.all(mails.map((m) => simpleParser(m.source)));
      assert.deepEqual(parsed.map((p) => p.text?.trim()).sort(), [...bodies].sort());
      for (const p of parsed) {
        assert.equal(p.from?.value[0]?.address, `bob@${DOMAIN}`);
        assert.match(p.messageId ?? "", new RegExp(`^<[0-9a-f]{32}@${COMPONENT.replaceAll(".", "\\.")}>$`));
        assert.ok(p.attachments.some((a) => a.contentType === "application/xmpp+xml"));
      }
      assert.deepEqual(parsed.map((p) => p.headers.get("x-xmpp-type")).sort(), ["chat", "chat", "normal"]);

      const second = await runCli(args, { uid: user.uid, gid: user.gid });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /0 imported, 3 skipped/);
      assert.equal((await listMailbox({ port: dovecot.imapPort, user: `dave@${DOMAIN}`, password: PASSWORD })).length, bodies.length);
    } finally {
      await prosody?.stop();
      await dovecot?.stop();
      await removeDir(dir);
    }
  });
});
