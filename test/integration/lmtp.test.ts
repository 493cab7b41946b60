// --deliver lmtp against a real Dovecot LMTP (no stand-in): first the component in-process on the
// fake XEP-0114 server, where the answer to each copy can be read off the wire; then the real CLI
// behind a real Prosody, whose module keeps a copy answered `wait` and sends it again. Every mail
// is counted over IMAP.
import { after, before, describe, test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Element } from "@xmpp/xml";
import { startDovecot, type DovecotServer, type DovecotUser } from "../../harness/dovecot.js";
import { listMailbox, waitForMessages, type ImapAccount } from "../../harness/imap.js";
import { lmtpExampleSettings, quotaConfig, quotaField } from "../../harness/dovecot-features.js";
import { mailUser } from "../../harness/mail-user.js";
import { pollUntil } from "../../harness/poll.js";
import { outboxCopies } from "../../harness/prosody-outbox.js";
import { freePort } from "../../harness/ports.js";
import { COMPONENT as COMPONENT_DOMAIN, DOMAIN, startStack, type Stack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient } from "../../harness/xmpp-client.js";
import { COMPONENT, startArchiverHarness, type ArchiverHarness } from "../support/archiver-harness.js";
import { runCli } from "../support/cli.js";

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const USERS = "example.org";
const PASSWORD = "pw-lmtp";
/** Smaller than any archived mail (a multipart with the stanza part is over 1 kB): LMTP answers 452. */
const TINY_QUOTA = quotaField("1K");
const BIG_QUOTA = quotaField("100M");

/**
 * The settings of examples/dovecot-lmtp.conf (or examples/dovecot-2.4/ for Dovecot 2.4), which
 * README "Delivery over LMTP" tells admins to add (its `protocols` line and listener are the
 * harness's own), plus dovecot-quota.conf, so that a full mailbox is a 452 (quota_full_tempfail)
 * the component must answer `wait` to.
 */
function lmtpConfig(): string[] {
  return [...lmtpExampleSettings("dovecot-lmtp.conf"), ...quotaConfig()];
}
const LMTP_CONFIG = lmtpConfig();

function copy(id: string, inner: string, reason = "offline"): string {
  return `<iq type='set' id='${id}' from='${USERS}' to='${COMPONENT}'><copy xmlns='urn:xmpp-maildir:copy:0' reason='${reason}'>` +
    `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-11-22T16:20:00Z'/>${inner}</forwarded></copy></iq>`;
}
const chat = (to: string, body: string, id = body) =>
  `<message xmlns='jabber:client' from='bob@example.net/phone' to='${to}' type='chat' id='${id}'><body>${body}</body></message>`;
const roomMessage = (room: string, body: string) =>
  `<message xmlns='jabber:client' from='${room}/Bob' to='alice@${USERS}/laptop' type='groupchat' id='${body}'><body>${body}</body></message>`;

function errorOf(reply: Element): { type: string | undefined; condition: string | undefined; text: string } {
  const error = reply.getChild("error");
  const condition = error?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS && c.name !== "text")?.name;
  return { type: error?.attrs.type, condition, text: error?.getChildText("text", NS_STANZAS) ?? "" };
}

/** Sends a copy and returns the component's answer to it. */
async function ask(harness: ArchiverHarness, id: string, stanza: string): Promise<Element> {
  const before = new Set(harness.server.received);
  harness.server.send(stanza);
  return harness.server.waitFor((el) => el.attrs.id === id && !before.has(el), 20_000);
}

/** Dovecot's trace fields go above the mail (RFC 5321 §4.4); the rest is what we sent. */
function withoutTrace(source: string): { trace: string[]; mail: string } {
  const lines = source.split("\r\n");
  const trace: string[] = [];
  while (lines.length > 0 && (/^(Return-Path|Delivered-To|Received):/i.test(lines[0]!) || (trace.length > 0 && /^[ \t]/.test(lines[0]!)))) {
    trace.push(lines.shift()!);
  }
  return { trace, mail: lines.join("\r\n") };
}

/** nodemailer's MIME boundaries are random per mail. */
const sameBoundary = (mail: string) => mail.replace(/--_NmP-[0-9a-f]+-Part_\d+/g, "--BOUNDARY");

describe(onServers("--deliver lmtp into a real Dovecot, component in-process"), () => {
  let dir: string;
  let dovecot: DovecotServer;
  let harness: ArchiverHarness;
  const users = (quota: string): DovecotUser[] =>
    ["alice", "bob"].map((u) => ({ user: `${u}@${USERS}`, password: PASSWORD, userdbFields: [BIG_QUOTA] as readonly string[] }))
      .concat([{ user: `carol@${USERS}`, password: PASSWORD, userdbFields: [quota] }]);
  const imap = (local: string, mailbox = "INBOX"): ImapAccount => ({ port: dovecot.imapPort, user: `${local}@${USERS}`, password: PASSWORD, mailbox });
  const lmtpFlags = (target: string, extra: Record<string, string> = {}) => ({ deliver: target, "chat-history": "true", groupchat: "true", ...extra });

  before(async () => {
    dir = await makeTempDir("xmd-lmtp-");
    const user = mailUser();
    dovecot = await startDovecot({
      dir: path.join(dir, "dovecot"),
      maildirTemplate: path.join(dir, "mail", "%d", "%n", "Maildir"),
      users: users(TINY_QUOTA),
      uid: user.uid,
      gid: user.gid,
      lmtp: true,
      userdb: "passwd-file",
      extraConfig: LMTP_CONFIG,
    });
    // No --maildir: over LMTP the component never touches a Maildir.
    harness = await startArchiverHarness({ dir: path.join(dir, "component"), noMaildir: true, flags: lmtpFlags(`lmtp://127.0.0.1:${dovecot.lmtpPort}`) });
  });

  after(async () => {
    await harness?.stop();
    await dovecot?.stop();
    await removeDir(dir);
  });

  test("a copy is confirmed after the 250, once, and IMAP shows exactly the mail the Maildir writer would have stored", async () => {
    const stanza = copy("l1", chat(`alice@${USERS}`, "hello over LMTP ☕"));
    const reply = await ask(harness, "l1", stanza);
    assert.equal(reply.attrs.type, "result", JSON.stringify(errorOf(reply)));
    const stored = harness.logs.find((l) => l.msg === "stored" && l.id === "l1");
    assert.ok(stored, "an info line for the stored mail");
    assert.match(String(stored.response), /^250 2\.0\.0 <alice@example\.org> /);
    const [mail, ...more] = await waitForMessages({ ...imap("alice"), count: 1 });
    assert.equal(more.length, 0);
    assert.equal(mail!.subject, "hello over LMTP ☕");

    // The same copy sent again (a lost confirmation): confirmed from the journal, not delivered again.
    assert.equal((await ask(harness, "l1", stanza)).attrs.type, "result");
    assert.ok(harness.logs.some((l) => l.msg === "duplicate copy, already stored" && l.id === "l1"));
    assert.equal((await listMailbox(imap("alice"))).length, 1);

    // The same copy through the Maildir writer, for comparison.
    const mdDir = path.join(dir, "maildir-mode");
    const maildir = await startArchiverHarness({ dir: mdDir, flags: { "chat-history": "true", groupchat: "true" } });
    try {
      assert.equal((await ask(maildir, "l1", stanza)).attrs.type, "result");
    } finally {
      await maildir.stop();
    }
    // With keywords (on with --chat-history) the Maildir writer delivers into cur/.
    const curDir = path.join(mdDir, "mail", USERS, "alice", "cur");
    const [file] = await readdir(curDir);
    const written = await readFile(path.join(curDir, file!), "utf8");
    const { trace, mail: delivered } = withoutTrace(mail!.source.toString("utf8"));
    assert.ok(trace.some((l) => l === "Return-Path: <>"), `MAIL FROM:<> (trace: ${trace.join(" | ")})`);
    assert.ok(trace.some((l) => l === `Delivered-To: alice@${USERS}`));
    assert.equal(sameBoundary(delivered), sameBoundary(written));
  });

  test("folders travel as the recipient detail: Chats, a room's folder, a room on another service; flags cannot", async () => {
    assert.equal((await ask(harness, "f1", copy("f1", chat(`alice@${USERS}/laptop`, "a live chat"), "chat"))).attrs.type, "result");
    assert.equal((await ask(harness, "f2", copy("f2", roomMessage("lounge@conference.example.org", "in the lounge"), "groupchat"))).attrs.type, "result");
    // team@muc.other.net → "Chats.team@muc_other_net": an '@' in the local part, so it is quoted.
    assert.equal((await ask(harness, "f3", copy("f3", roomMessage("team@muc.other.net", "in another room"), "groupchat"))).attrs.type, "result");
    const chats = await waitForMessages({ ...imap("alice", "Chats"), count: 1 });
    assert.deepEqual(chats.map((m) => m.subject), ["a live chat"]);
    // Maildir mode would deliver these \Seen $XMPP $XMPPChat; LMTP can set no flags (README).
    assert.deepEqual(chats[0]!.flags.filter((f) => f !== "\\Recent"), []);
    assert.deepEqual((await waitForMessages({ ...imap("alice", "Chats.lounge"), count: 1 })).map((m) => m.subject), ["in the lounge"]);
    assert.deepEqual((await waitForMessages({ ...imap("alice", "Chats.team@muc_other_net"), count: 1 })).map((m) => m.subject), ["in another room"]);
    assert.deepEqual((await listMailbox(imap("alice"))).map((m) => m.subject), ["hello over LMTP ☕"], "nothing extra in INBOX");
    const log = harness.logs.find((l) => l.msg === "stored" && l.id === "f2");
    assert.equal(log?.folder, "Chats/lounge");
  });

  test("a user Dovecot does not know (550) is refused with cancel and a warn line; nothing is stored", async () => {
    const reply = await ask(harness, "u1", copy("u1", chat(`nobody@${USERS}`, "to no one")));
    assert.equal(reply.attrs.type, "error");
    assert.deepEqual(errorOf(reply), { type: "cancel", condition: "internal-server-error", text: "the mail server refused the message (LMTP 550 5.1.1)" });
    const warn = await harness.waitForLog((l) => l.level === 40 && l.id === "u1");
    assert.match(String(warn.response), /^550 5\.1\.1 <nobody@example\.org> User doesn't exist/);
  });

  test("over quota (452 with quota_full_tempfail): wait and no confirmation; after the quota is raised the copy is stored exactly once", async () => {
    const stanza = copy("q1", chat(`carol@${USERS}`, "carol is over quota"));
    const refused = await ask(harness, "q1", stanza);
    assert.equal(refused.attrs.type, "error");
    assert.deepEqual(errorOf(refused), { type: "wait", condition: "resource-constraint", text: "storage temporarily unavailable (LMTP 452 4.2.2)" });
    const outage = await harness.waitForLog((l) => l.level === 50 && l.id === "q1");
    assert.equal(outage.reason, "452 4.2.2");
    assert.equal(outage.path, `lmtp://127.0.0.1:${dovecot.lmtpPort}`);
    assert.equal((await listMailbox(imap("carol"))).length, 0);

    // The admin raises the quota; Dovecot reads the passwd-file again (it looks at most once a second).
    await dovecot.setUsers(users(BIG_QUOTA));
    // The module sends the copy again after `wait`, with backoff, until it is confirmed.
    await pollUntil(
      async () => {
        const reply = await ask(harness, "q1", stanza);
        if (reply.attrs.type === "result") return true;
        assert.equal(errorOf(reply).type, "wait", "only ever wait while over quota");
        return undefined;
      },
      { timeoutMs: 10_000, intervalMs: 250, describe: () => "the copy stored once the quota is raised" },
    );
    assert.ok(!harness.logs.some((l) => l.id === "q1" && String(l.msg).includes("may be stored twice")), "a 452 is a definite no: the retry is not in doubt");
    assert.equal((await ask(harness, "q1", stanza)).attrs.type, "result");
    const mails = await waitForMessages({ ...imap("carol"), count: 1 });
    assert.deepEqual(mails.map((m) => m.subject), ["carol is over quota"]);
  });

  test("a copy whose earlier LMTP attempt got no answer (a crash) is delivered again, with a warn line", async () => {
    // What a component killed between sending and the 250 leaves in its journal: P without C.
    const state = path.join(dir, "crashed", "state");
    await mkdir(state, { recursive: true });
    const key = createHash("sha256").update(`${USERS}\0x1`).digest("hex").slice(0, 32);
    await writeFile(path.join(state, "journal-00000000.log"), `P ${key} lmtp:bob@${USERS}\n`);
    const restarted = await startArchiverHarness({ dir: path.join(dir, "crashed"), noMaildir: true, flags: lmtpFlags(`lmtp://127.0.0.1:${dovecot.lmtpPort}`) });
    try {
      assert.equal((await ask(restarted, "x1", copy("x1", chat(`bob@${USERS}`, "in doubt")))).attrs.type, "result");
      assert.ok(restarted.logs.some((l) => l.level === 40 && l.id === "x1" && String(l.msg).includes("it may be stored twice")));
      // Now it is known to be stored: not again.
      assert.equal((await ask(restarted, "x1", copy("x1", chat(`bob@${USERS}`, "in doubt")))).attrs.type, "result");
    } finally {
      await restarted.stop();
    }
    assert.deepEqual((await waitForMessages({ ...imap("bob"), count: 1 })).map((m) => m.subject), ["in doubt"]);
  });

  test("an LMTP server that cannot be reached: wait, with the reason in the log", async () => {
    const closed = await freePort();
    const down = await startArchiverHarness({ dir: path.join(dir, "down"), noMaildir: true, flags: lmtpFlags(`lmtp://127.0.0.1:${closed}`) });
    try {
      const reply = await ask(down, "d1", copy("d1", chat(`alice@${USERS}`, "nobody listens")));
      assert.deepEqual(errorOf(reply), { type: "wait", condition: "resource-constraint", text: "storage temporarily unavailable (LMTP ECONNREFUSED)" });
      const outage = await down.waitForLog((l) => l.level === 50 && l.id === "d1");
      assert.equal(outage.path, `lmtp://127.0.0.1:${closed}`);
    } finally {
      await down.stop();
    }
  });

  test("Dovecot's LMTP Unix socket works too, and stop() ends every LMTP session with QUIT", async () => {
    const socket = path.join(dir, "dovecot", "run", "lmtp");
    const loggedOut = async () => (await readFile(dovecot.logPath, "utf8")).split("\n").filter((l) => /lmtp\(\d+\): Info: Disconnect from local: Logged out/.test(l)).length;
    const before = await loggedOut();
    const viaSocket = await startArchiverHarness({ dir: path.join(dir, "socket"), noMaildir: true, flags: lmtpFlags(`lmtp:${socket}`) });
    try {
      // Several at once, so that more than one connection is opened.
      const ids = ["s1", "s2", "s3", "s4"];
      const replies = await Promise.all(ids.map((id) => ask(viaSocket, id, copy(id, chat(`bob@${USERS}`, `over the socket ${id}`)))));
      assert.deepEqual(replies.map((r) => r.attrs.type), ["result", "result", "result", "result"]);
    } finally {
      await viaSocket.stop();
    }
    const mails = (await waitForMessages({ ...imap("bob"), count: 5 })).filter((m) => m.subject?.startsWith("over the socket"));
    assert.deepEqual(mails.map((m) => m.subject).sort(), ["over the socket s1", "over the socket s2", "over the socket s3", "over the socket s4"]);
    const opened = (await readFile(dovecot.logPath, "utf8")).split("\n").filter((l) => /lmtp\(\d+\): Info: Connect from local/.test(l)).length;
    assert.ok(opened >= 2, `several connections (${opened})`);
    await pollUntil(async () => ((await loggedOut()) - before === opened ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 100,
      describe: () => `every one of the ${opened} LMTP sessions logged out`,
    });
  });
});

describe(onServers("--deliver lmtp behind a real Prosody: a copy answered wait is kept and sent again"), () => {
  let dir: string;
  let stack: Stack;

  before(async () => {
    dir = await makeTempDir("xmd-lmtp-prosody-");
    stack = await startStack({
      dir,
      users: ["alice", "bob", "carol"],
      module: { retryMin: 1, retryMax: 2 },
      dovecot: { lmtp: true, extraConfig: LMTP_CONFIG, userdbFields: { alice: [TINY_QUOTA], bob: [], carol: [] } },
    });
  });

  after(async () => {
    await stack?.stop();
    await removeDir(dir);
  });

  /** The module's durable outbox (its log on disk): the ids of the unconfirmed copies. */
  async function outbox(): Promise<string[]> {
    return outboxCopies(path.join(dir, "prosody", "data"));
  }

  test("check: the LMTP server answers, or the fix is named; without --maildir no Maildir is checked", async () => {
    const check = (deliver: string) => runCli(
      ["check", "--domain", COMPONENT_DOMAIN, "--deliver", deliver, "--state-dir", path.join(dir, "check-state"), "--xmpp-port", String(stack.prosody.componentPort)],
      { env: { XMPP_MAILDIR_SECRET: stack.secret } },
    );
    const ok = await check(`lmtp://127.0.0.1:${stack.dovecot.lmtpPort}`);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`^ok {3}lmtp {5}lmtp://127\\.0\\.0\\.1:${stack.dovecot.lmtpPort} answers LHLO$`, "m"));
    assert.match(ok.stdout, /^ok {3}config {3}.* deliver=lmtp:\/\/127\.0\.0\.1:\d+$/m);
    assert.doesNotMatch(ok.stdout, /^\S+ +(maildir|user) /m, "nothing about Maildirs or the mail user");
    const closed = await freePort();
    const down = await check(`lmtp://127.0.0.1:${closed}`);
    assert.equal(down.code, 1);
    assert.match(down.stdout, new RegExp(`^FAIL lmtp {5}cannot talk LMTP to lmtp://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)\n +fix: start Dovecot with protocols = lmtp`, "m"));
  });

  test("over quota: no loss, no confirmation until the quota is raised, then exactly once", async () => {
    const component = stack.component({ args: ["--deliver", `lmtp://127.0.0.1:${stack.dovecot.lmtpPort}`] });
    try {
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
      assert.ok(component.logs.some((l) => String(l.msg).startsWith("delivering over LMTP")), "says once what LMTP mode cannot do");
      const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
      try {
        await bob.sendMessage({ to: `alice@${DOMAIN}`, type: "chat", body: "alice, over quota" });
        await bob.sendMessage({ to: `carol@${DOMAIN}`, type: "chat", body: "carol, fine" });
      } finally {
        await bob.stop();
      }
      // carol's copy goes through; alice's gets 452, answered wait, and stays in the outbox.
      assert.deepEqual((await waitForMessages({ ...stack.imap("carol"), count: 1 })).map((m) => m.subject), ["carol, fine"]);
      const outage = await component.waitForLog((l) => l.level === 50 && l.reason === "452 4.2.2");
      assert.match(String(outage.response), /Quota exceeded/);
      await pollUntil(async () => ((await readFile(stack.prosody.logPath, "utf8")).includes("resource-constraint: storage temporarily unavailable (LMTP 452 4.2.2)") ? true : undefined), {
        timeoutMs: 15_000,
        intervalMs: 200,
        describe: () => "the module pausing on the component's wait",
      });
      // Two retries later it is still kept, not confirmed, not stored.
      await component.waitForLog(() => component.logs.filter((l) => l.reason === "452 4.2.2").length >= 3, 20_000);
      assert.equal((await outbox()).length, 1, "the copy is still in the module's outbox");
      assert.equal((await listMailbox(stack.imap("alice")).catch(() => [])).length, 0);

      await stack.dovecot.setUsers(["alice", "bob", "carol"].map((u) => ({ user: `${u}@${DOMAIN}`, password: stack.password, userdbFields: [BIG_QUOTA] })));
      await waitForMessages({ ...stack.imap("alice"), count: 1, timeoutMs: 20_000 });
      await pollUntil(async () => ((await outbox()).length === 0 ? true : undefined), { timeoutMs: 15_000, intervalMs: 200, describe: () => "an empty outbox (every copy confirmed)" });
      // Confirmed: nothing can come again. Each mail is there exactly once.
      assert.deepEqual((await listMailbox(stack.imap("alice"))).map((m) => m.subject), ["alice, over quota"]);
      assert.deepEqual((await listMailbox(stack.imap("carol"))).map((m) => m.subject), ["carol, fine"]);
      assert.equal(component.logs.filter((l) => l.msg === "stored").length, 2);
      assert.deepEqual(await stack.serverErrors(), []);
    } finally {
      assert.equal(await component.stop("SIGTERM"), 0, `exit 0 on SIGTERM; stderr: ${component.stderr()}`);
    }
  });
});
