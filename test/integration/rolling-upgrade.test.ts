// A rolling upgrade from copy protocol v0 to v1 (batches), in either order, loses nothing and
// stores nothing twice (docs/protocol.md, "Upgrading"). "Old" is the real old code: the Prosody
// module and the component as commit 31723c0 had them (v0 only), built from git history
// (harness/old-release.ts). A real Prosody, real components, a real Dovecot, counted over IMAP.
//   order A: the module first (copies waiting in its outbox while Prosody restarts with the new
//            module, the old component still running), then the component, with traffic flowing;
//   order B: the component first, with traffic flowing, then the module (copies waiting in the
//            outbox across the restart).
// A Prosody restart drops its client connections, so messages are sent up to the moment it stops
// and from the moment it is back; the copies of the last ones are still unconfirmed in the outbox.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { ComponentProcess } from "../../harness/component.js";
import { onServers } from "../../harness/generation.js";
import { buildOldRelease, type OldRelease } from "../../harness/old-release.js";
import { repoRoot } from "../../harness/paths.js";
import { pollUntil } from "../../harness/poll.js";
import { outboxCopies } from "../../harness/prosody-outbox.js";
import { DOMAIN, startStack, type Stack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient } from "../../harness/xmpp-client.js";
import { OLD_COMMIT, assertInboxesOnce, batchLines, bodies, connected, sendAll, traffic } from "../support/upgrade-traffic.js";

const SETTLE_TIMEOUT_MS = 180_000;
const MODULE_FILE = "mod_xmpp_maildir.lua";

/** The outbox empties, then every body sent is in its user's INBOX exactly once. */
async function assertExactlyOnce(stack: Stack, sent: string[]): Promise<void> {
  await pollUntil(async () => ((await outboxCopies(path.join(stack.prosody.dir, "data"))).length === 0 ? true : undefined), {
    timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 250, describe: () => "every copy confirmed (the outbox empty)",
  });
  await assertInboxesOnce((user) => stack.imap(user), sent);
}

describe(onServers("rolling upgrade from copy protocol v0 to v1 (Prosody)"), { concurrency: 1 }, () => {
  let buildDir: string;
  let old: OldRelease;
  const newModule = path.join(repoRoot(), "server", "prosody", MODULE_FILE);

  before(async () => {
    buildDir = await makeTempDir("xmd-old-release-");
    old = await buildOldRelease(OLD_COMMIT, buildDir);
    assert.doesNotMatch(await readFile(path.join(old.prosodyDir, MODULE_FILE), "utf8"), /copy:1/, "the old module is v0 only");
  });

  after(async () => {
    if (buildDir) await removeDir(buildDir);
  });

  /** A stack whose Prosody loads the module from dir/plugins, which starts as the old one. */
  async function withOldStack(prefix: string, fn: (stack: Stack, plugins: string) => Promise<void>): Promise<void> {
    const dir = await makeTempDir(prefix);
    let stack: Stack | undefined;
    try {
      const plugins = path.join(dir, "plugins");
      await mkdir(plugins);
      await copyFile(path.join(old.prosodyDir, MODULE_FILE), path.join(plugins, MODULE_FILE));
      stack = await startStack({ dir, users: ["alice", "bob", "carol"], module: { retryMin: 1, retryMax: 2 }, pluginPath: plugins });
      await fn(stack, plugins);
      assert.deepEqual(await stack.serverErrors(), [], "no errors in Prosody's log");
    } finally {
      await stack?.stop();
      await removeDir(dir);
    }
  }

  /**
   * The module swap: the component frozen so the last copies stay unconfirmed in the outbox,
   * Prosody stopped, the new module file put in place, Prosody started, the component thawed.
   */
  async function upgradeModule(stack: Stack, plugins: string, component: ComponentProcess, sent: string[]): Promise<void> {
    component.child.kill("SIGSTOP");
    const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
    await sendAll(bob, bodies("outbox", 40), sent);
    await bob.stop();
    const waiting = (await outboxCopies(path.join(stack.prosody.dir, "data"))).length;
    assert.ok(waiting >= 40, `copies waiting in the outbox across the upgrade (${waiting})`);
    await stack.server.stop();
    await copyFile(newModule, path.join(plugins, MODULE_FILE));
    const before = component.logs.filter(connected).length;
    await stack.server.start();
    component.child.kill("SIGCONT");
    const log = await readFile(stack.server.logPath, "utf8");
    assert.match(log, /Re-sending \d+ unconfirmed copies/, "the new module took over the old one's outbox");
    await component.waitForLog(() => component.logs.filter(connected).length > before, 30_000);
  }

  /** The component swap with traffic flowing: old stopped (SIGTERM), new started. */
  async function upgradeComponent(stack: Stack, component: ComponentProcess, sent: string[], tag: string): Promise<ComponentProcess> {
    const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
    const flow = traffic(bob, `flow${tag}`, sent);
    try {
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await component.stop(), 0, "the old component stops cleanly");
      await new Promise((r) => setTimeout(r, 500));
      const next = stack.component();
      await next.waitForLog(connected);
      await new Promise((r) => setTimeout(r, 1_000));
      return next;
    } finally {
      await flow.stop();
      await bob.stop();
    }
  }

  /** With both new: bursts go as batches; the Prosody log says the component takes them. */
  async function bothNew(stack: Stack, component: ComponentProcess, sent: string[]): Promise<void> {
    await pollUntil(async () => (/archive\.example\.test takes batches of copies/.test(await readFile(stack.server.logPath, "utf8")) ? true : undefined), {
      timeoutMs: 30_000, intervalMs: 200, describe: () => "the new module found that the new component takes batches",
    });
    const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
    const flow = traffic(bob, "flowZ", sent);
    try {
      await pollUntil(async () => (batchLines(component).some((l) => Number(l.copies) > 1) ? true : undefined), {
        timeoutMs: 30_000, intervalMs: 100, describe: () => "a batch of several copies reached the new component",
      });
    } finally {
      await flow.stop();
      await bob.stop();
    }
  }

  test("order A: the module first (with copies in its outbox), then the component", async () => {
    await withOldStack("xmd-upgrade-a-", async (stack, plugins) => {
      const sent: string[] = [];
      let component = stack.component({ cli: old.cli });
      try {
        await component.waitForLog(connected);
        const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
        await sendAll(bob, bodies("old", 30), sent);
        await bob.stop();

        await upgradeModule(stack, plugins, component, sent);
        // New module, old component: it asked, was told v0 only, and sends single copies.
        await pollUntil(async () => (/archive\.example\.test does not take batches of copies/.test(await readFile(stack.server.logPath, "utf8")) ? true : undefined), {
          timeoutMs: 30_000, intervalMs: 200, describe: () => "the new module found that the old component takes no batches",
        });

        component = await upgradeComponent(stack, component, sent, "A");
        await bothNew(stack, component, sent);
        await assertExactlyOnce(stack, sent);
      } finally {
        assert.equal(await component.stop(), 0);
      }
    });
  });

  test("order B: the component first, then the module (with copies in its outbox)", async () => {
    await withOldStack("xmd-upgrade-b-", async (stack, plugins) => {
      const sent: string[] = [];
      let component = stack.component({ cli: old.cli });
      try {
        await component.waitForLog(connected);
        const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
        await sendAll(bob, bodies("old", 30), sent);
        await bob.stop();

        component = await upgradeComponent(stack, component, sent, "B");
        // Old module, new component: v0 copies only, and they are taken.
        assert.deepEqual(batchLines(component), [], "the old module sends no batches");
        assert.ok(component.logs.some((l) => l.msg === "stored"), "the new component stores the old module's copies");

        await upgradeModule(stack, plugins, component, sent);
        await bothNew(stack, component, sent);
        await assertExactlyOnce(stack, sent);
      } finally {
        assert.equal(await component.stop(), 0);
      }
    });
  });
});
