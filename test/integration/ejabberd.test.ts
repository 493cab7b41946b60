// ejabberd-specific behaviour of server/ejabberd/mod_xmpp_maildir.erl against a real ejabberd
// 23.01 or 24.12 (Debian 12's or 13's package, per generation), the real component as the mail user and a real Dovecot. The
// scenarios shared with Prosody run for both servers in archive.test.ts and chaos.test.ts.
//
// ejabberd routes things to a user that Prosody hands to the session directly (carbons, stored
// messages at login, MAM results), spreads a component domain over several connections, and
// bounces what mod_offline refuses to store; these tests cover exactly that.
import { after, before, describe, test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { xml } from "@xmpp/client";
import { type ComponentProcess, type LogLine } from "../../harness/component.js";
import { waitForEmptyOutbox } from "../../harness/ejabberd.js";
import { listMailbox, waitForMessages } from "../../harness/imap.js";
import { DOMAIN, startStack, type EjabberdStack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type Element, type TestClient } from "../../harness/xmpp-client.js";

const connected = (l: LogLine) => l.msg === "connected to the XMPP server";
const storedFor = (user: string, reason: string) => (l: LogLine) => l.msg === "stored" && l.user === `${user}@${DOMAIN}` && l.reason === reason;
const stored = (l: LogLine) => l.msg === "stored";
/** mod_offline keeps at most this many messages per user in the first suite (shaper_rules). */
const OFFLINE_LIMIT = 3;
/** Long enough for hundreds of fsync'd deliveries and Dovecot indexing on a busy CI machine. */
const SETTLE_TIMEOUT_MS = 120_000;
const FAST_RETRY = { retryMin: 1, retryMax: 2 };

/** Sends chats in order, then a ping: once it is answered, ejabberd has routed them all. */
async function sendAll(client: TestClient, bodies: Array<{ to: string; body: string }>): Promise<void> {
  for (const { to, body } of bodies) await client.sendMessage({ to: `${to}@${DOMAIN}`, type: "chat", body });
  await client.client.iqCaller.request(xml("iq", { type: "get", to: DOMAIN }, xml("ping", { xmlns: "urn:xmpp:ping" })), 60_000);
}

function plan(count: number, users: string[], tag: string) {
  const bodies = Array.from({ length: count }, (_, i) => ({ to: users[i % users.length]!, body: `${tag}-${String(i).padStart(5, "0")}` }));
  const expected = new Map(users.map((u) => [u, bodies.filter((b) => b.to === u).map((b) => b.body)]));
  return { bodies, expected };
}

/** Every expected subject in each INBOX exactly once, nothing else (read over IMAP). */
async function assertExactlyOnce(stack: EjabberdStack, expected: Map<string, string[]>): Promise<void> {
  await waitForEmptyOutbox(stack.ejabberd, SETTLE_TIMEOUT_MS);
  for (const [user, bodies] of expected) {
    const got = (await listMailbox(stack.imap(user))).map((m) => m.subject ?? "");
    const dupes = got.filter((s, i) => got.indexOf(s) !== i);
    assert.deepEqual(dupes, [], `${user}: no message stored twice`);
    const missing = bodies.filter((b) => !got.includes(b));
    assert.deepEqual(missing.slice(0, 10), [], `${user}: ${missing.length} of ${bodies.length} missing`);
    assert.equal(got.length, bodies.length, `${user}: exactly the messages sent`);
  }
}

describe(onServers("ejabberd: what the module copies, and what it leaves alone"), () => {
  let dir: string;
  let stack: EjabberdStack;
  let component: ComponentProcess;
  const client = (username: string, resource?: string) =>
    connectClient({ port: stack.ejabberd.c2sPort, domain: DOMAIN, username, password: stack.password, ...(resource ? { resource } : {}) });
  const subjects = async (user: string) => (await listMailbox(stack.imap(user))).map((m) => m.subject ?? "");
  /**
   * Copies the component has handled (stored, or confirmed without a mail): each logs one line
   * with the copy's IQ id, before it is confirmed. Once the outbox is empty, this is final.
   */
  const copiesSeen = () => component.logs.filter((l) => typeof l.id === "string" && l.id.startsWith("xmd-")).length;
  before(async () => {
    dir = await makeTempDir("xmd-ejabberd-");
    stack = await startStack({
      dir,
      users: ["alice", "bob", "carol", "dave"],
      server: "ejabberd",
      ejabberdConfig: ["shaper_rules:", `  max_user_offline_messages: ${OFFLINE_LIMIT}`].join("\n"),
    });
    component = stack.component();
    await component.waitForLog(connected);
  });

  after(async () => {
    const code = await component?.stop("SIGTERM");
    const errors = (await stack?.serverErrors()) ?? [];
    await stack?.stop();
    await removeDir(dir);
    assert.equal(code, 0, `component exits 0 on SIGTERM; stderr: ${component?.stderr()}`);
    assert.deepEqual(errors, [], "no errors in ejabberd's log");
  });

  test("offline chat and normal messages are archived once, and not again when mod_offline re-routes them at login", async () => {
    const bob = await client("bob");
    try {
      await bob.sendMessage({ to: `alice@${DOMAIN}`, type: "chat", body: "offline chat via ejabberd" });
      await bob.sendMessage({ to: `alice@${DOMAIN}`, type: "normal", body: "offline normal via ejabberd" });
      await component.waitForLog(() => component.logs.filter(storedFor("alice", "offline")).length >= 2);
    } finally {
      await bob.stop();
    }
    const seen = copiesSeen();
    // At login mod_offline routes the stored messages through ejabberd_sm again (with a delay
    // and meta from_offline): the normal one is then a normal message to an online user, which a
    // module trusting sm_receive_packet alone would copy a second time.
    const alice = await client("alice");
    try {
      for (const body of ["offline chat via ejabberd", "offline normal via ejabberd"]) {
        const got = await alice.waitForStanza((s) => s.is("message") && s.getChildText("body") === body);
        assert.ok(got.getChild("delay", "urn:xmpp:delay"), "delivered from offline storage");
      }
    } finally {
      await alice.stop();
    }
    // Any copy made at login was stored in the outbox before the message reached alice.
    await waitForEmptyOutbox(stack.ejabberd);
    assert.equal(copiesSeen(), seen, "no copy of the redelivered messages");
    assert.deepEqual((await subjects("alice")).sort(), ["offline chat via ejabberd", "offline normal via ejabberd"]);
  });

  test("normal to online users: archived once; carbons (received and sent) are not archived again", async () => {
    const enableCarbons = (c: TestClient) => c.client.iqCaller.request(xml("iq", { type: "set" }, xml("enable", { xmlns: "urn:xmpp:carbons:2" })));
    const alicePhone = await client("alice", "phone");
    const aliceLaptop = await client("alice", "laptop");
    const bobPhone = await client("bob", "phone");
    const bobLaptop = await client("bob", "laptop");
    try {
      for (const c of [alicePhone, aliceLaptop, bobPhone, bobLaptop]) await enableCarbons(c);
      const before = await subjects("alice");
      const seen = copiesSeen();
      await bobPhone.sendMessage({ to: alicePhone.jid, type: "normal", body: "normal with carbons", subject: "Carbons" });
      await alicePhone.waitForStanza((s) => s.getChildText("body") === "normal with carbons");
      // The carbons ejabberd routed: received to alice's laptop, sent to bob's laptop.
      const isCarbon = (kind: string) => (s: Element) => s.getChild(kind, "urn:xmpp:carbons:2") !== undefined;
      await aliceLaptop.waitForStanza(isCarbon("received"));
      await bobLaptop.waitForStanza(isCarbon("sent"));
      await component.waitForLog(storedFor("alice", "normal"));
      await waitForEmptyOutbox(stack.ejabberd);
      assert.equal(copiesSeen(), seen + 1, "one copy: the message itself, not its carbons");
      assert.deepEqual(await subjects("alice"), [...before, "Carbons"]);
      assert.deepEqual(await subjects("bob"), [], "bob's sent carbon is not archived as a normal message to bob");
    } finally {
      for (const c of [alicePhone, aliceLaptop, bobPhone, bobLaptop]) await c.stop();
    }
  });

  test("MAM query results (typeless messages ejabberd routes to the user) are not archived", async () => {
    const alice = await client("alice", "mam");
    try {
      const before = await subjects("alice");
      const seen = copiesSeen();
      const fin = await alice.client.iqCaller.request(xml("iq", { type: "set" }, xml("query", { xmlns: "urn:xmpp:mam:2", queryid: "q1" })));
      assert.ok(fin.getChild("fin", "urn:xmpp:mam:2"), "MAM answered");
      const results = alice.received.filter((s) => s.is("message") && s.getChild("result", "urn:xmpp:mam:2"));
      assert.ok(results.length >= 2, `alice got her archive back (${results.length} results)`);
      await waitForEmptyOutbox(stack.ejabberd);
      assert.equal(copiesSeen(), seen, "no copies of MAM results");
      assert.deepEqual(await subjects("alice"), before);
    } finally {
      await alice.stop();
    }
  });

  test("headlines, errors, groupchat and online chats are not archived; bodyless normal ones are confirmed, not stored", async () => {
    const carol = await client("carol", "desk");
    const bob = await client("bob");
    try {
      const seen = copiesSeen();
      for (const [type, body] of [["headline", "news"], ["groupchat", "room talk"], ["chat", "live chat"], ["error", "an error"]] as const) {
        await bob.sendMessage({ to: carol.jid, type, body });
      }
      await bob.sendMessage({ to: `carol@${DOMAIN}`, type: "normal" });
      await bob.sendMessage({ to: `carol@${DOMAIN}`, type: "normal", body: "marker", subject: "Marker" });
      await carol.waitForStanza((s) => s.getChildText("body") === "marker");
      await component.waitForLog(storedFor("carol", "normal"));
      await component.waitForLog(() => copiesSeen() >= seen + 2);
      await waitForEmptyOutbox(stack.ejabberd);
      // Two copies: the bodyless normal message (confirmed without a mail) and the marker.
      assert.equal(copiesSeen(), seen + 2);
      assert.deepEqual(await subjects("carol"), ["Marker"]);
    } finally {
      await bob.stop();
      await carol.stop();
    }
  });

  test(`only what mod_offline stored is archived: past its limit (${OFFLINE_LIMIT}) ejabberd bounces, and nothing is copied`, async () => {
    const bob = await client("bob");
    try {
      const bodies = Array.from({ length: OFFLINE_LIMIT + 2 }, (_, i) => `queued-${i}`);
      for (const body of bodies) await bob.sendMessage({ to: `dave@${DOMAIN}`, type: "chat", body, id: body });
      // mod_offline answers each message over the limit with an error to the sender.
      for (const body of bodies.slice(OFFLINE_LIMIT)) {
        const bounce = await bob.waitForStanza((s) => s.attrs.id === body && s.attrs.type === "error");
        assert.ok(bounce.getChild("error")?.getChild("resource-constraint", "urn:ietf:params:xml:ns:xmpp-stanzas"));
      }
      await waitForEmptyOutbox(stack.ejabberd);
      const mails = await waitForMessages({ ...stack.imap("dave"), count: OFFLINE_LIMIT });
      assert.deepEqual(mails.map((m) => m.subject).sort(), bodies.slice(0, OFFLINE_LIMIT));
    } finally {
      await bob.stop();
    }
  });
});

describe(onServers("ejabberd: the outbox survives a crash"), () => {
  test("ejabberd SIGKILLed with 300 unconfirmed copies: all arrive once after it starts again", async () => {
    const dir = await makeTempDir("xmd-ejabberd-crash-");
    let stack: EjabberdStack | undefined;
    let component: ComponentProcess | undefined;
    try {
      stack = await startStack({ dir, users: ["alice", "bob", "carol"], server: "ejabberd", module: FAST_RETRY });
      component = stack.component();
      await component.waitForLog(connected);
      const { bodies, expected } = plan(300, ["alice", "carol"], "crash");
      // Freeze the component: every copy stays unconfirmed, in the outbox, when ejabberd dies.
      component.child.kill("SIGSTOP");
      const bob = await connectClient({ port: stack.ejabberd.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
      try {
        await sendAll(bob, bodies);
      } finally {
        await bob.stop();
      }
      // No clean shutdown: only what reached the Mnesia log on disk survives.
      await stack.ejabberd.kill();
      component.child.kill("SIGCONT");
      const logBefore = (await readFile(stack.ejabberd.logPath, "utf8")).length;
      await stack.ejabberd.start();
      const log = (await readFile(stack.ejabberd.logPath, "utf8")).slice(logBefore);
      assert.match(log, /Re-sending 300 unconfirmed copies/, "the outbox survived the crash");
      await assertExactlyOnce(stack, expected);
    } finally {
      const code = component ? await component.stop() : 0;
      await stack?.stop();
      await removeDir(dir);
      assert.equal(code, 0, "component exits 0 on SIGTERM");
    }
  });
});


describe(onServers("ejabberd: two component connections for one domain, one Maildir root"), { concurrency: 1 }, () => {
  let dir: string;
  let stack: EjabberdStack;
  const components: ComponentProcess[] = [];
  let expected = new Map<string, string[]>();

  /** Every stored mail is its own file: a name used twice would have replaced a mail on rename. */
  async function assertUniqueNames(total: number, instances: ComponentProcess[]): Promise<void> {
    const names: string[] = [];
    for (const user of ["alice", "carol"]) {
      const maildir = path.join(stack.mailRoot, DOMAIN, user, "Maildir");
      for (const sub of ["new", "cur"]) names.push(...(await readdir(path.join(maildir, sub))).map((n) => n.split(":")[0]!));
    }
    assert.equal(names.length, total);
    assert.equal(new Set(names).size, names.length, "unique Maildir file names");
    for (const c of instances) assert.ok(names.some((n) => n.includes(`P${c.child.pid}Q`)), `instance ${c.child.pid} wrote files`);
  }

  before(async () => {
    dir = await makeTempDir("xmd-ejabberd-two-");
    stack = await startStack({ dir, users: ["alice", "bob", "carol"], server: "ejabberd", module: FAST_RETRY });
    // Separate dedupe journals: the journal is one process's memory plus its own files.
    for (const name of ["a", "b"]) {
      const c = stack.component({ args: ["--state-dir", path.join(stack.mailRoot, `.xmpp-maildir-${name}`)] });
      components.push(c);
      await c.waitForLog(connected);
    }
  });

  after(async () => {
    const codes = [];
    for (const c of components) codes.push(await c.stop());
    await stack?.stop();
    await removeDir(dir);
    assert.deepEqual(codes, codes.map(() => 0), "components exit 0");
  });

  test("copies are spread over both instances; each message is stored once and file names never collide", async () => {
    const [a, b] = components as [ComponentProcess, ComponentProcess];
    const bob = await connectClient({ port: stack.ejabberd.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
    try {
      const first = plan(400, ["alice", "carol"], "two");
      await sendAll(bob, first.bodies);
      await assertExactlyOnce(stack, first.expected);
      expected = first.expected;
    } finally {
      await bob.stop();
    }
    const byA = a.logs.filter(stored).length;
    const byB = b.logs.filter(stored).length;
    assert.equal(byA + byB, 400, `every copy stored by exactly one instance (a: ${byA}, b: ${byB})`);
    assert.ok(byA > 0 && byB > 0, `ejabberd spread the copies over both connections (a: ${byA}, b: ${byB})`);
    await assertUniqueNames(400, [a, b]);
  });

  test("a rolling restart: one instance stops (SIGTERM) while copies flow, the other takes over, each message once", async () => {
    const [a, b] = components as [ComponentProcess, ComponentProcess];
    const bob = await connectClient({ port: stack.ejabberd.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
    try {
      const byA = a.logs.filter(stored).length;
      const second = plan(400, ["alice", "carol"], "roll");
      const sending = sendAll(bob, second.bodies);
      await a.waitForLog(() => a.logs.filter(stored).length >= byA + 20, SETTLE_TIMEOUT_MS);
      assert.equal(await a.stop("SIGTERM"), 0);
      await sending;
      const all = new Map([...expected].map(([u, list]) => [u, [...list, ...second.expected.get(u)!]]));
      await assertExactlyOnce(stack, all);
      await assertUniqueNames(800, [a, b]);
    } finally {
      await bob.stop();
    }
  });
});
