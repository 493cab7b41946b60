// --deliver lmtp past one machine: the real CLI behind a real Prosody (our module, chat history on)
// hands every copy to a real Dovecot LMTP proxy (examples/dovecot-lmtp-proxy.conf, or
// examples/dovecot-2.4/ on Dovecot 2.4), whose passdb sends each user to one of two real Dovecot
// backends (examples/dovecot-lmtp.conf). Three Dovecots on loopback, each in its own directory.
// Every mail is read back over IMAP from the user's own backend, and looked for on the other one.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { xml } from "@xmpp/client";
import type { ComponentProcess } from "../../harness/component.js";
import { startDovecot, type DovecotServer } from "../../harness/dovecot.js";
import { lmtpExampleSettings, lmtpProxyFields } from "../../harness/dovecot-features.js";
import { onServers } from "../../harness/generation.js";
import { listMailbox, type ImapAccount } from "../../harness/imap.js";
import { listFolders, waitForMailbox } from "../../harness/imap-folders.js";
import { mailUser } from "../../harness/mail-user.js";
import { outboxCopies } from "../../harness/prosody-outbox.js";
import { pollUntil } from "../../harness/poll.js";
import { DOMAIN, startStack, type Stack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";

type Backend = "a" | "b";
/** Where the proxy's passdb sends each user. Both backends know every user (see before()). */
const HOME: Readonly<Record<string, Backend>> = { alice: "a", carol: "a", bob: "b", dave: "b" };
const USERS = Object.keys(HOME);
const OTHER: Readonly<Record<Backend, Backend>> = { a: "b", b: "a" };
/** The backends' IMAP password (the XMPP one is the stack's). */
const IMAP_PASSWORD = "pw-backend";
const MUC = `conference.${DOMAIN}`;
const ROOM = `lounge@${MUC}`;
/** A backend refused by the proxy is retried by the module after 1 s, 2 s, 2 s, …: a test waits a few rounds. */
const RETRY_WAIT_MS = 30_000;

/** What each backend runs: the single-server LMTP settings, and trust in the proxy's XCLIENT. */
function backendConfig(): string[] {
  return [...lmtpExampleSettings("dovecot-lmtp.conf"), "login_trusted_networks = 127.0.0.1"];
}

describe(onServers("--deliver lmtp through a Dovecot LMTP proxy to two backends, behind a real Prosody"), () => {
  let dir: string;
  const backends = {} as Record<Backend, DovecotServer>;
  let stack: Stack;
  let component: ComponentProcess;
  const clients: TestClient[] = [];

  const client = async (username: string) => {
    const c = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username, password: stack.password });
    clients.push(c);
    return c;
  };
  /** A user's mailbox on one backend, as a mail client logged in there would see it. */
  const imapOn = (backend: Backend, local: string, mailbox = "INBOX"): ImapAccount =>
    ({ port: backends[backend].imapPort, user: `${local}@${DOMAIN}`, password: IMAP_PASSWORD, mailbox });
  const home = (local: string) => HOME[local]!;
  const subjects = async (account: ImapAccount) => (await listMailbox(account)).map((m) => m.subject);
  /** The module's durable outbox (its log on disk, harness/prosody-outbox.ts): the unconfirmed copies. */
  const outbox = () => outboxCopies(path.join(dir, "prosody", "data"));
  const emptyOutbox = () => pollUntil(async () => ((await outbox()).length === 0 ? true : undefined), {
    timeoutMs: RETRY_WAIT_MS,
    intervalMs: 200,
    describe: () => "an empty outbox (every copy confirmed)",
  });

  /**
   * Each user's folders on the other backend: none but an empty INBOX. A copy sent to the wrong
   * backend would be stored there without complaint (static userdb: every user exists), so this
   * is what shows that the proxy routed it.
   */
  async function assertNothingOnTheOtherBackend(): Promise<void> {
    for (const local of USERS) {
      const other = OTHER[home(local)];
      const account = imapOn(other, local);
      assert.deepEqual((await listFolders(account)).map((f) => f.path), ["INBOX"], `${local} has no folders on backend ${other}`);
      assert.deepEqual(await subjects(account), [], `${local}'s INBOX on backend ${other} is empty`);
    }
  }

  before(async () => {
    dir = await makeTempDir("xmd-lmtp-proxy-");
    const user = mailUser();
    for (const name of ["a", "b"] as const) {
      backends[name] = await startDovecot({
        dir: path.join(dir, `backend-${name}`, "dovecot"),
        maildirTemplate: path.join(dir, `backend-${name}`, "mail", "%d", "%n", "Maildir"),
        users: USERS.map((local) => ({ user: `${local}@${DOMAIN}`, password: IMAP_PASSWORD })),
        uid: user.uid,
        gid: user.gid,
        lmtp: true,
        extraConfig: backendConfig(),
      });
    }
    // The stack's own Dovecot is the proxy: its passdb sends each user to the LMTP port of their backend.
    stack = await startStack({
      dir,
      users: USERS,
      module: { retryMin: 1, retryMax: 2, chatHistory: true, groupchat: true },
      // Prosody's bundled MUC as its own component host (as in chat.test.ts), for a room folder.
      prosodyHostConfig: [`Component "${MUC}" "muc"`, "muc_room_locking = false"],
      dovecot: {
        lmtp: true,
        extraConfig: lmtpExampleSettings("dovecot-lmtp-proxy.conf"),
        passdbFields: Object.fromEntries(USERS.map((local) => [local, lmtpProxyFields(backends[home(local)].lmtpPort!)])),
      },
    });
    component = stack.component({ args: ["--deliver", `lmtp://127.0.0.1:${stack.dovecot.lmtpPort}`, "--chat-history", "--groupchat"] });
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
  });

  after(async () => {
    for (const c of clients) await c.stop();
    const code = await component?.stop("SIGTERM");
    const serverErrors = (await stack?.serverErrors()) ?? [];
    await stack?.stop();
    for (const backend of Object.values(backends)) await backend.stop();
    await removeDir(dir);
    assert.equal(code, 0, `component exits 0 on SIGTERM; stderr: ${component?.stderr()}`);
    assert.deepEqual(serverErrors, [], "no errors in Prosody's log");
  });

  test("copies for users on both backends land on each user's own backend, folders by recipient detail included; the proxy stores nothing", async () => {
    // alice (backend a) and bob (b) are online and chat; carol (a) and dave (b) are offline.
    const alice = await client("alice");
    const bob = await client("bob");
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "alice to bob" });
    await bob.waitForStanza((s) => s.getChildText("body") === "alice to bob");
    await bob.sendMessage({ to: `alice@${DOMAIN}`, body: "bob to alice" });
    await alice.waitForStanza((s) => s.getChildText("body") === "bob to alice");
    await alice.sendMessage({ to: `dave@${DOMAIN}`, body: "alice to dave, offline" });
    await bob.sendMessage({ to: `carol@${DOMAIN}`, body: "bob to carol, offline" });
    // A room message: a folder two levels down (alice+Chats.lounge@…) for each occupant.
    for (const [c, nick] of [[alice, "Alice"], [bob, "Bobby"]] as const) {
      await c.send(xml("presence", { to: `${ROOM}/${nick}` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
      await c.waitForStanza((st) => st.is("presence") && st.attrs.from === `${ROOM}/${nick}`);
    }
    await alice.send(xml("message", { to: ROOM, type: "groupchat", id: "g1" }, xml("body", {}, "hello room")));

    // Live chats and what each sends: the sender's and recipient's Chats (alice+Chats@…), each on
    // their own backend. Offline: the recipient's INBOX. The room: each occupant's Chats.lounge.
    const expected: Record<string, Record<string, string[]>> = {
      alice: { Chats: ["alice to bob", "bob to alice", "alice to dave, offline"], "Chats.lounge": ["hello room"], INBOX: [] },
      bob: { Chats: ["alice to bob", "bob to alice", "bob to carol, offline"], "Chats.lounge": ["hello room"], INBOX: [] },
      carol: { INBOX: ["bob to carol, offline"] },
      dave: { INBOX: ["alice to dave, offline"] },
    };
    for (const [local, folders] of Object.entries(expected)) {
      for (const [folder, want] of Object.entries(folders)) {
        const got = await waitForMailbox(imapOn(home(local), local, folder), (m) => m.length >= want.length);
        assert.deepEqual(got.map((m) => m.subject).sort(), [...want].sort(), `${local}'s ${folder} on backend ${home(local)}`);
      }
    }
    await emptyOutbox();
    // Once more, after every copy is confirmed: nothing came twice.
    for (const [local, folders] of Object.entries(expected)) {
      for (const [folder, want] of Object.entries(folders)) {
        assert.deepEqual((await subjects(imapOn(home(local), local, folder))).sort(), [...want].sort(), `${local}'s ${folder}, after all is confirmed`);
      }
    }
    await assertNothingOnTheOtherBackend();
    // The proxy delivered nothing itself (its userdb would have taken any user it did not proxy).
    // Only the component's state directory (the default --state-dir) is in the proxy's mail root.
    assert.deepEqual(await readdir(stack.mailRoot).catch(() => []), [".xmpp-maildir"], "no Maildir on the proxy");
    const proxyLog = await readFile(stack.dovecot.logPath, "utf8");
    for (const local of USERS) {
      const port = backends[home(local)].lmtpPort!;
      const domain = DOMAIN.replaceAll(".", "\\.");
      assert.match(proxyLog, new RegExp(`Sent message to <${local}(\\+Chats(\\.lounge)?)?@${domain}> at 127\\.0\\.0\\.1:${port}: 250 `), `the proxy sent ${local}'s mail to backend ${home(local)}`);
    }
    assert.equal(component.logs.filter((l) => l.msg === "stored").length, 10, "ten copies, each stored once");
  });

  test("a backend stopped mid-run: its users' copies get wait and stay in the outbox, the other backend's flow on; after it is back each arrives exactly once", async () => {
    const alice = clients.find((c) => c.jid.startsWith("alice@")) ?? (await client("alice"));
    const storedBefore = component.logs.filter((l) => l.msg === "stored").length;
    const send = async (phase: string) => {
      for (const n of [1, 2, 3]) {
        await alice.sendMessage({ to: `dave@${DOMAIN}`, body: `${phase} ${n} to dave` });
        await alice.sendMessage({ to: `carol@${DOMAIN}`, body: `${phase} ${n} to carol` });
      }
    };
    await send("before");
    await waitForMailbox(imapOn("b", "dave"), (m) => m.length >= 4);
    await waitForMailbox(imapOn("a", "carol"), (m) => m.length >= 4);
    await emptyOutbox();

    await backends.b.stop();
    await send("during");
    // carol's backend is up: her copies arrive while dave's are refused.
    const carol = await waitForMailbox(imapOn("a", "carol"), (m) => m.length >= 7, RETRY_WAIT_MS);
    assert.deepEqual(carol.map((m) => m.subject).filter((s) => s?.startsWith("during")).sort(), ["during 1 to carol", "during 2 to carol", "during 3 to carol"]);
    // The proxy answers dave's RCPT with a 451; the component says wait, logs it once per outage
    // (an error line with the reason), and the module keeps the copies and sends them again.
    const outage = await component.waitForLog((l) => l.level === 50 && String(l.reason).startsWith("451 4.4.0"), RETRY_WAIT_MS);
    assert.match(String(outage.response), /Proxy failed/);
    await pollUntil(async () => ((await readFile(stack.prosody.logPath, "utf8")).includes("resource-constraint: storage temporarily unavailable (LMTP 451 4.4.0)") ? true : undefined), {
      timeoutMs: RETRY_WAIT_MS,
      intervalMs: 200,
      describe: () => "the module pausing on the component's wait",
    });
    // Several attempts later they are still kept: dave's three (alice's sent copies are on backend a).
    const refusals = () => component.logs.filter((l) => String(l.reason).startsWith("451 4.4.0") || String(l.response).includes("Proxy failed")).length;
    const seen = refusals();
    await pollUntil(async () => (refusals() > seen ? true : undefined), { timeoutMs: RETRY_WAIT_MS, intervalMs: 200, describe: () => "the module sending dave's copies again" });
    // Everything for backend a is confirmed (carol's copies, alice's sent ones); dave's three stay.
    let kept: string[] = [];
    await pollUntil(async () => ((kept = await outbox()).length === 3 ? true : undefined), {
      timeoutMs: RETRY_WAIT_MS,
      intervalMs: 200,
      describe: () => `only dave's three copies left in the module's outbox, saw ${kept.length}`,
    });
    assert.deepEqual((await subjects(imapOn("a", "dave"))), [], "not delivered to the backend that is up instead");

    await backends.b.start();
    const dave = await waitForMailbox(imapOn("b", "dave"), (m) => m.length >= 7, RETRY_WAIT_MS);
    await emptyOutbox();
    // Every copy confirmed: nothing can come again. Each mail is there exactly once.
    const want = (to: string) => ["before", "during"].flatMap((p) => [1, 2, 3].map((n) => `${p} ${n} to ${to}`));
    assert.deepEqual((await subjects(imapOn("b", "dave"))).sort(), ["alice to dave, offline", ...want("dave")].sort());
    assert.equal(dave.length, 7);
    assert.deepEqual((await subjects(imapOn("a", "carol"))).sort(), ["bob to carol, offline", ...want("carol")].sort());
    const sent = (await subjects(imapOn("a", "alice", "Chats"))).filter((s) => /^(before|during) /.test(s ?? ""));
    assert.deepEqual(sent.sort(), [...want("dave"), ...want("carol")].sort(), "alice's sent copies, once each");
    await assertNothingOnTheOtherBackend();
    // 12 copies to dave and carol, and alice's 12 sent copies.
    assert.equal(component.logs.filter((l) => l.msg === "stored").length - storedBefore, 24);
  });
});
