// No message lost, none stored twice: kills, restarts, a full disk and a long outage, against a
// real Prosody and a real ejabberd (each with its module's durable outbox) and a real Dovecot,
// counted over IMAP. Every scenario runs once per server.
import { describe, test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chown, mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { xml } from "@xmpp/client";
import type { ComponentProcess, LogLine } from "../../harness/component.js";
import { listMailbox } from "../../harness/imap.js";
import { mailUser } from "../../harness/mail-user.js";
import { waitForEmptyOutbox } from "../../harness/ejabberd.js";
import { DOMAIN, SERVER_KINDS, startStack, type AnyStack, type ServerKind } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";

/** The issue asks for 2,000; override for a quick local run. */
const CHAOS_MESSAGES = Number(process.env.XMPP_MAILDIR_CHAOS_MESSAGES ?? 2000);
/** How long the component stays down in the outage test: a minute, as an admin's restart might. */
const DOWN_SECONDS = Number(process.env.XMPP_MAILDIR_CHAOS_DOWN_SECONDS ?? 60);
/** Long enough for thousands of fsync'd deliveries and Dovecot indexing on a busy CI machine. */
const SETTLE_TIMEOUT_MS = 180_000;
const POLL_MS = 250;
/** Fast retries in tests; production defaults back off to 60 s. */
const FAST_RETRY = { retryMin: 1, retryMax: 2 };
const SERVER_NAMES: Record<ServerKind, string> = { prosody: "Prosody", ejabberd: "ejabberd" };
const isRoot = process.getuid?.() === 0;

const connected = (l: LogLine) => l.msg === "connected to the XMPP server";
const stored = (l: LogLine) => l.msg === "stored";

/**
 * Sends bodies in order, then an XEP-0199 ping: once it is answered, the server has handled them all.
 * The ping waits behind every message of the sender's stream, so it gets the settle timeout: ejabberd
 * alone (24.12, no module) took 56 s to route 2,000 messages from one client to two offline users
 * (28 ms each: mod_mam's and mod_offline's Mnesia disc_only tables grow per user), 62 s with our
 * module, measured 2026-12-02; a 60 s ping timeout failed the ejabberd runs under load.
 */
async function sendAll(client: TestClient, bodies: Array<{ to: string; body: string }>): Promise<void> {
  for (const { to, body } of bodies) await client.sendMessage({ to: `${to}@${DOMAIN}`, type: "chat", body });
  await client.client.iqCaller.request(xml("iq", { type: "get", to: DOMAIN }, xml("ping", { xmlns: "urn:xmpp:ping" })), SETTLE_TIMEOUT_MS);
}

/** Polls every user's INBOX over IMAP until the expected bodies are all there, then checks exactly-once. */
async function assertExactlyOnce(stack: AnyStack, expected: Map<string, string[]>): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  // ejabberd's outbox can be read while it runs: once it is empty every copy is confirmed, so a
  // late duplicate cannot slip in after the count below.
  if (stack.kind === "ejabberd") await waitForEmptyOutbox(stack.ejabberd, SETTLE_TIMEOUT_MS);
  for (;;) {
    const seen = new Map<string, string[]>();
    for (const user of expected.keys()) {
      const mails = await listMailbox(stack.imap(user)).catch(() => []);
      seen.set(user, mails.map((m) => m.subject ?? ""));
    }
    const complete = [...expected].every(([user, bodies]) => (seen.get(user)?.length ?? 0) >= bodies.length);
    if (complete || Date.now() > deadline) {
      for (const [user, bodies] of expected) {
        const got = seen.get(user) ?? [];
        const dupes = got.filter((s, i) => got.indexOf(s) !== i);
        assert.deepEqual(dupes, [], `${user}: no message stored twice`);
        const missing = bodies.filter((b) => !got.includes(b));
        assert.deepEqual(missing.slice(0, 10), [], `${user}: ${missing.length} of ${bodies.length} missing`);
        assert.equal(got.length, bodies.length, `${user}: exactly the messages sent`);
      }
      return;
    }
    await new Promise((r) => setTimeout(r, POLL_MS * 4));
  }
}

function plan(count: number, users: string[], tag: string): { bodies: Array<{ to: string; body: string }>; expected: Map<string, string[]> } {
  const bodies = Array.from({ length: count }, (_, i) => ({ to: users[i % users.length]!, body: `${tag}-${String(i).padStart(5, "0")}` }));
  const expected = new Map(users.map((u) => [u, bodies.filter((b) => b.to === u).map((b) => b.body)]));
  return { bodies, expected };
}

/**
 * `beforeStart` runs before any server starts: a mount made there is seen by servers that run in
 * the other generation's root too (their mount namespace is a copy taken at start).
 */
async function withStack(kind: ServerKind, prefix: string, fn: (stack: AnyStack, dir: string) => Promise<void>, beforeStart?: (dir: string) => Promise<void>): Promise<void> {
  const dir = await makeTempDir(prefix);
  let stack: AnyStack | undefined;
  try {
    await beforeStart?.(dir);
    stack = await startStack({ dir, users: ["alice", "bob", "carol"], server: kind, module: FAST_RETRY });
    await fn(stack, dir);
    assert.deepEqual(await stack.serverErrors(), [], `no errors in ${SERVER_NAMES[kind]}'s log`);
  } finally {
    await stack?.stop();
    await removeDir(dir);
  }
}

async function waitForStored(component: ComponentProcess, count: number): Promise<void> {
  await component.waitForLog(() => component.logs.filter(stored).length >= count, SETTLE_TIMEOUT_MS);
}

for (const kind of SERVER_KINDS) {
  const name = SERVER_NAMES[kind];

  describe(onServers(kind === "prosody" ? "chaos: nothing lost, nothing twice" : `chaos (${name}): nothing lost, nothing twice`), { concurrency: 1 }, () => {
    test(`${CHAOS_MESSAGES} messages to offline users while the component is killed (SIGKILL) twice`, async () => {
      await withStack(kind, `xmd-chaos-kill-${kind}-`, async (stack) => {
        const { bodies, expected } = plan(CHAOS_MESSAGES, ["alice", "carol"], "kill");
        let component = stack.component();
        await component.waitForLog(connected);
        const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
        try {
          const sending = sendAll(bob, bodies);
          for (let kill = 0; kill < 2; kill++) {
            await waitForStored(component, Math.min(150, CHAOS_MESSAGES / 8));
            await component.stop("SIGKILL");
            component = stack.component();
            await component.waitForLog(connected);
          }
          await sending;
          await assertExactlyOnce(stack, expected);
        } finally {
          await bob.stop();
          assert.equal(await component.stop(), 0);
        }
      });
    });

    test(`${name} restarted in the middle of a run`, async () => {
      await withStack(kind, `xmd-chaos-restart-${kind}-`, async (stack) => {
        const half = Math.floor(CHAOS_MESSAGES / 2);
        const first = plan(half, ["alice", "carol"], "before");
        const second = plan(CHAOS_MESSAGES - half, ["alice", "carol"], "after");
        const component = stack.component();
        await component.waitForLog(connected);
        try {
          // Freeze the component, so that every copy of the first half is still unconfirmed, in
          // the server's outbox, when the server goes down.
          component.child.kill("SIGSTOP");
          let bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
          await sendAll(bob, first.bodies);
          await bob.stop();
          await stack.server.stop();
          component.child.kill("SIGCONT");
          await stack.server.start();
          const log = await readFile(stack.server.logPath, "utf8");
          assert.match(log, new RegExp(`Re-sending ${half} unconfirmed copies`), "the outbox survived the restart");
          bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
          await sendAll(bob, second.bodies);
          await bob.stop();
          const expected = new Map([...first.expected].map(([u, b]) => [u, [...b, ...second.expected.get(u)!]]));
          await assertExactlyOnce(stack, expected);
          assert.ok(component.logs.filter(connected).length >= 2, "the component reconnected after the restart");
        } finally {
          assert.equal(await component.stop(), 0);
        }
      });
    });

    test("the Maildir file system fills up while messages arrive; nothing is lost once space is freed", { skip: isRoot ? false : "mounting a tmpfs needs root" }, async () => {
      const user = mailUser();
      let mount = "";
      // alice's whole Maildir lives on a tiny tmpfs; the dedupe journal stays on the big disk.
      const mountTmpfs = async (dir: string) => {
        mount = path.join(dir, "mail", DOMAIN, "alice");
        await mkdir(mount, { recursive: true });
        execFileSync("mount", ["-t", "tmpfs", "-o", `size=64k,mode=0700,uid=${user.uid},gid=${user.gid}`, "tmpfs", mount]);
        await chown(path.dirname(mount), user.uid, user.gid);
      };
      await withStack(kind, `xmd-chaos-full-${kind}-`, async (stack) => {
        assert.equal(path.join(stack.mailRoot, DOMAIN, "alice"), mount);
        const component = stack.component();
        try {
          await component.waitForLog(connected);
          const { bodies, expected } = plan(120, ["alice"], "full");
          const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
          try {
            await sendAll(bob, bodies);
          } finally {
            await bob.stop();
          }
          const outage = await component.waitForLog((l) => l.level === 50 && l.msg.startsWith("cannot store message"), SETTLE_TIMEOUT_MS);
          assert.equal(outage.reason, "ENOSPC");
          assert.match(String(outage.path), /alice/);
          // Free space: the module's retries now get through.
          execFileSync("mount", ["-o", "remount,size=64m", mount]);
          await component.waitForLog((l) => l.msg === "storage recovered", SETTLE_TIMEOUT_MS);
          await assertExactlyOnce(stack, expected);
          const errors = component.logs.filter((l) => l.level === 50);
          assert.equal(errors.length, 1, `one error line for the outage, not one per message: ${JSON.stringify(errors)}`);
        } finally {
          assert.equal(await component.stop(), 0);
          execFileSync("umount", ["-l", mount]);
        }
      }, mountTmpfs);
    });

    test(`the component is stopped for ${DOWN_SECONDS} s while messages arrive; all of them arrive after it starts again`, async () => {
      await withStack(kind, `xmd-chaos-down-${kind}-`, async (stack) => {
        let component = stack.component();
        await component.waitForLog(connected);
        assert.equal(await component.stop("SIGTERM"), 0);
        const { bodies, expected } = plan(60, ["alice", "carol"], "down");
        const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
        try {
          // Spread the messages over the outage.
          const slices = 6;
          for (let i = 0; i < slices; i++) {
            await sendAll(bob, bodies.slice((i * bodies.length) / slices, ((i + 1) * bodies.length) / slices));
            await new Promise((r) => setTimeout(r, (DOWN_SECONDS * 1000) / slices));
          }
        } finally {
          await bob.stop();
        }
        component = stack.component();
        try {
          await component.waitForLog(connected);
          await assertExactlyOnce(stack, expected);
        } finally {
          assert.equal(await component.stop(), 0);
        }
      });
    });
  });

  describe(onServers(kind === "prosody" ? "shutdown" : `shutdown (${name})`), () => {
    test("SIGTERM in the middle of a run: exit 0 within 10 s; after a restart every message is there once", async () => {
      await withStack(kind, `xmd-chaos-term-${kind}-`, async (stack) => {
        const { bodies, expected } = plan(600, ["alice", "carol"], "term");
        let component = stack.component();
        await component.waitForLog(connected);
        const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
        try {
          const sending = sendAll(bob, bodies);
          await waitForStored(component, 100);
          const started = Date.now();
          assert.equal(await component.stop("SIGTERM"), 0);
          assert.ok(Date.now() - started < 10_000, `stopped in ${Date.now() - started} ms`);
          assert.ok(component.logs.some((l) => l.msg === "stopped"));
          await sending;
          component = stack.component();
          await component.waitForLog(connected);
          await assertExactlyOnce(stack, expected);
        } finally {
          await bob.stop();
          assert.equal(await component.stop(), 0);
        }
      });
    });
  });
}
