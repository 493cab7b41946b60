// The rolling upgrade from copy protocol v0 to v1 (batches) with ejabberd, in either order: nothing
// lost, nothing stored twice (docs/protocol.md, "Upgrading"). "Old" is the real old code: the
// ejabberd module and the component as commit 31723c0 had them (v0 only), built from git history
// (harness/old-release.ts). A real ejabberd, real components, a real Dovecot, counted over IMAP.
// The same two orders as rolling-upgrade.test.ts (Prosody):
//   order A: the module first (copies waiting in its Mnesia outbox while ejabberd restarts with
//            the new module, the old component still running), then the component, traffic flowing;
//   order B: the component first, traffic flowing, then the module (copies waiting across the restart).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { ComponentProcess } from "../../harness/component.js";
import { ejabberdOutboxSize } from "../../harness/ejabberd.js";
import { onServers } from "../../harness/generation.js";
import { buildOldRelease, type OldRelease } from "../../harness/old-release.js";
import { pollUntil } from "../../harness/poll.js";
import { DOMAIN, startStack, type EjabberdStack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";
import { OLD_COMMIT, assertInboxesOnce, batchLines, bodies, connected, sendAll, traffic } from "../support/upgrade-traffic.js";

/** Who sends in bothNew, at the same time. */
const SENDERS = ["bob", "dave", "erin"];
const SETTLE_TIMEOUT_MS = 180_000;

/**
 * Every component and client a case starts, stopped by withOldStack whatever happens: one left
 * running (a case failing half-way, e.g. a client's ping timing out) kept this file's process,
 * and its xm-heavy slot, alive for good.
 */
const liveComponents = new Set<ComponentProcess>();
const liveClients = new Set<TestClient>();

function startComponent(stack: EjabberdStack, options?: { cli?: string }): ComponentProcess {
  const component = stack.component(options);
  liveComponents.add(component);
  return component;
}

async function connect(stack: EjabberdStack, username: string): Promise<TestClient> {
  const client = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username, password: stack.password });
  liveClients.add(client);
  return client;
}

/** Stops what is still running; errors here are not the case's failure, which propagates. */
async function stopLeftovers(): Promise<void> {
  const clients = [...liveClients];
  const components = [...liveComponents];
  liveClients.clear();
  liveComponents.clear();
  await Promise.all(clients.map((client) => client.stop().catch(() => undefined)));
  await Promise.all(components.map(async (component) => {
    if (component.child.exitCode !== null || component.child.signalCode !== null) return;
    component.child.kill("SIGCONT"); // frozen by upgradeModule: SIGTERM waits for it
    await component.stop().catch(() => undefined);
  }));
}

async function logMatches(stack: EjabberdStack, re: RegExp, describe: string): Promise<void> {
  await pollUntil(async () => (re.test(await readFile(stack.server.logPath, "utf8")) ? true : undefined), { timeoutMs: 30_000, intervalMs: 200, describe: () => describe });
}

/** The outbox empties, then every body sent is in its user's INBOX exactly once. */
async function assertExactlyOnce(stack: EjabberdStack, sent: string[]): Promise<void> {
  let left = -1;
  await pollUntil(async () => ((left = await ejabberdOutboxSize(stack.ejabberd)) === 0 ? true : undefined), {
    timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 250, describe: () => `every copy confirmed (${left} left in the outbox)`,
  });
  await assertInboxesOnce((user) => stack.imap(user), sent);
}

describe(onServers("rolling upgrade from copy protocol v0 to v1 (ejabberd)"), { concurrency: 1 }, () => {
  let buildDir: string;
  let old: OldRelease;
  let oldModule: string;

  before(async () => {
    buildDir = await makeTempDir("xmd-old-release-");
    old = await buildOldRelease(OLD_COMMIT, buildDir);
    oldModule = path.join(path.dirname(old.prosodyDir), "ejabberd");
    assert.doesNotMatch(await readFile(path.join(oldModule, "mod_xmpp_maildir_outbox.erl"), "utf8"), /copy:1/, "the old module is v0 only");
  });

  after(async () => {
    await stopLeftovers();
    if (buildDir) await removeDir(buildDir);
  });

  async function withOldStack(prefix: string, fn: (stack: EjabberdStack) => Promise<void>): Promise<void> {
    const dir = await makeTempDir(prefix);
    let stack: EjabberdStack | undefined;
    try {
      stack = await startStack({ dir, server: "ejabberd", users: ["alice", "carol", ...SENDERS], module: { retryMin: 1, retryMax: 2 }, ejabberdModuleSource: oldModule });
      await fn(stack);
      assert.deepEqual(await stack.serverErrors(), [], "no errors in ejabberd's log");
    } finally {
      await stopLeftovers();
      await stack?.stop();
      await removeDir(dir);
    }
  }

  /** The module swap: the component frozen so the last copies stay in the outbox, ejabberd stopped, the new module built, ejabberd started. */
  async function upgradeModule(stack: EjabberdStack, component: ComponentProcess, sent: string[]): Promise<void> {
    component.child.kill("SIGSTOP");
    const bob = await connect(stack, "bob");
    await sendAll(bob, bodies("outbox", 40), sent);
    await bob.stop();
    const waiting = await ejabberdOutboxSize(stack.ejabberd);
    assert.ok(waiting >= 40, `copies waiting in the outbox across the upgrade (${waiting})`);
    await stack.server.stop();
    await stack.ejabberd.replaceModule();
    const before = component.logs.filter(connected).length;
    await stack.server.start();
    component.child.kill("SIGCONT");
    assert.match(await readFile(stack.server.logPath, "utf8"), /Re-sending \d+ unconfirmed copies/, "the new module took over the old one's outbox");
    await component.waitForLog(() => component.logs.filter(connected).length > before, 30_000);
  }

  /** The component swap with traffic flowing: old stopped (SIGTERM), new started. */
  async function upgradeComponent(stack: EjabberdStack, component: ComponentProcess, sent: string[], tag: string): Promise<ComponentProcess> {
    const bob = await connect(stack, "bob");
    try {
      const flow = traffic(bob, `flow${tag}`, sent);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await component.stop(), 0);
      await new Promise((r) => setTimeout(r, 500));
      const next = startComponent(stack);
      await next.waitForLog(connected);
      await new Promise((r) => setTimeout(r, 1_000));
      await flow.stop();
      return next;
    } finally {
      await bob.stop();
    }
  }

  /**
   * With both new: bursts go as batches; ejabberd's log says the component takes them. Three
   * senders at once: one sender's copies are each synced before the next is written (its session
   * process waits for the outbox's group commit), so a single client never has two copies waiting
   * in the module's process in one turn; several clients do.
   */
  async function bothNew(stack: EjabberdStack, component: ComponentProcess, sent: string[]): Promise<void> {
    await logMatches(stack, /archive\.example\.test takes batches of copies/, "the new module found that the new component takes batches");
    const senders = await Promise.all(SENDERS.map((username) => connect(stack, username)));
    try {
      const flows = senders.map((client, i) => traffic(client, `flowZ${String(i)}`, sent));
      await pollUntil(async () => (batchLines(component).some((l) => Number(l.copies) > 1) ? true : undefined), {
        timeoutMs: 60_000, intervalMs: 100, describe: () => "a batch of several copies reached the new component",
      });
      await Promise.all(flows.map((flow) => flow.stop()));
    } finally {
      await Promise.all(senders.map((client) => client.stop()));
    }
  }

  test("order A: the module first (with copies in its outbox), then the component", async () => {
    await withOldStack("xmd-upgrade-ej-a-", async (stack) => {
      const sent: string[] = [];
      let component = startComponent(stack, { cli: old.cli });
      await component.waitForLog(connected);
      const bob = await connect(stack, "bob");
      await sendAll(bob, bodies("old", 30), sent);
      await bob.stop();

      await upgradeModule(stack, component, sent);
      // New module, old component: it asked, was told v0 only, and sends single copies.
      await logMatches(stack, /archive\.example\.test does not take batches of copies/, "the new module found that the old component takes no batches");

      component = await upgradeComponent(stack, component, sent, "A");
      await bothNew(stack, component, sent);
      await assertExactlyOnce(stack, sent);
      // A clean stop on success; on failure withOldStack stops whatever is left.
      assert.equal(await component.stop(), 0);
    });
  });

  test("order B: the component first, then the module (with copies in its outbox)", async () => {
    await withOldStack("xmd-upgrade-ej-b-", async (stack) => {
      const sent: string[] = [];
      let component = startComponent(stack, { cli: old.cli });
      await component.waitForLog(connected);
      const bob = await connect(stack, "bob");
      await sendAll(bob, bodies("old", 30), sent);
      await bob.stop();

      component = await upgradeComponent(stack, component, sent, "B");
      assert.deepEqual(batchLines(component), [], "the old module sends no batches");
      assert.ok(component.logs.some((l) => l.msg === "stored"), "the new component stores the old module's copies");

      await upgradeModule(stack, component, sent);
      await bothNew(stack, component, sent);
      await assertExactlyOnce(stack, sent);
      // A clean stop on success; on failure withOldStack stops whatever is left.
      assert.equal(await component.stop(), 0);
    });
  });
});
