// A downgrade of the Prosody module to the release before confirmations were grouped (commit
// d50396f writes and reads one "-" record per id; since 2026-12-02 the module writes one record
// per event-loop turn listing every id confirmed in it: docs/protocol.md, "Upgrading"). The older
// module reads such a record as confirming one unknown id, so the copies it lists come back as
// unconfirmed: they must be sent once more and dropped by the component as already stored, and
// nothing may be lost or stored twice. The older module is the real file from git history; a
// real Prosody, a real component and a real Dovecot, counted over IMAP.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { onServers } from "../../harness/generation.js";
import { repoRoot } from "../../harness/paths.js";
import { pollUntil } from "../../harness/poll.js";
import { groupedConfirmations, outboxCopies } from "../../harness/prosody-outbox.js";
import { DOMAIN, startStack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient } from "../../harness/xmpp-client.js";
import { assertInboxesOnce, bodies, connected, sendAll } from "../support/upgrade-traffic.js";

/** The last commit whose module writes one "-" record per confirmed id. */
const PREVIOUS_COMMIT = "d50396f";
const MODULE_FILE = "mod_xmpp_maildir.lua";
const SETTLE_TIMEOUT_MS = 120_000;

async function previousModule(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)("git", ["-C", repoRoot(), "show", `${PREVIOUS_COMMIT}:server/prosody/${MODULE_FILE}`], { maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (cause) {
    throw new Error(`commit ${PREVIOUS_COMMIT} (the module before grouped confirmations) is not in ${repoRoot()}'s git history: this test needs a full clone (git fetch --unshallow)`, { cause });
  }
}

describe(onServers("Prosody module downgrade past grouped confirmations"), () => {
  test("copies confirmed in one record per turn are sent again by the older module, stored once", async () => {
    const older = await previousModule();
    assert.doesNotMatch(older, /one event-loop turn in one/, `${PREVIOUS_COMMIT}'s module writes one record per id`);
    const dir = await makeTempDir("xmd-downgrade-");
    const plugins = path.join(dir, "plugins");
    await mkdir(plugins);
    await copyFile(path.join(repoRoot(), "server", "prosody", MODULE_FILE), path.join(plugins, MODULE_FILE));
    const stack = await startStack({ dir, users: ["alice", "bob", "carol"], module: { retryMin: 1, retryMax: 2 }, pluginPath: plugins });
    const component = stack.component();
    const data = path.join(stack.prosody.dir, "data");
    const logFile = path.join(data, DOMAIN.replaceAll(".", "%2e"), "xmpp_maildir_outbox.log");
    const sent: string[] = [];
    try {
      await component.waitForLog(connected);
      // Stored and confirmed by today's module: bursts confirmed in the same turn share a record.
      const bob = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "bob", password: stack.password });
      await sendAll(bob, bodies("confirmed", 60), sent);
      await pollUntil(async () => ((await outboxCopies(data)).length === 0 ? true : undefined), {
        timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 200, describe: () => "the first 60 copies confirmed",
      });
      const grouped = groupedConfirmations(await readFile(logFile)).flat();
      assert.ok(grouped.length >= 2, `the log holds records that confirm several copies at once (${grouped.length} ids in them)`);

      // Unconfirmed across the downgrade: the component frozen while these are sent.
      component.child.kill("SIGSTOP");
      await sendAll(bob, bodies("held", 20), sent);
      await bob.stop();
      const held = (await outboxCopies(data)).length;
      assert.equal(held, 20, "the 20 copies sent while the component was frozen wait in the outbox");

      await stack.server.stop();
      await writeFile(path.join(plugins, MODULE_FILE), older);
      const before = component.logs.filter(connected).length;
      await stack.server.start();
      component.child.kill("SIGCONT");
      await component.waitForLog(() => component.logs.filter(connected).length > before, 30_000);

      // What the older module made of the log: the held copies and every grouped one.
      const log = await readFile(stack.server.logPath, "utf8");
      const resent = Number([...log.matchAll(/Re-sending (\d+) unconfirmed copies/g)].at(-1)?.[1]);
      assert.equal(resent, held + grouped.length, "the older module re-sends the held copies and those confirmed in grouped records");
      await pollUntil(async () => ((await outboxCopies(data)).length === 0 ? true : undefined), {
        timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 250, describe: () => "every copy confirmed to the older module",
      });
      const dropped = component.logs.filter((l) => l.msg === "duplicate copy, already stored").length;
      assert.ok(dropped >= grouped.length, `the component dropped the ${grouped.length} re-sent copies as already stored (${dropped})`);
      await assertInboxesOnce((user) => stack.imap(user), sent);
      assert.deepEqual(await stack.serverErrors(), [], "no errors in Prosody's log");
    } finally {
      component.child.kill("SIGCONT");
      assert.equal(await component.stop(), 0);
      await stack.stop();
      await removeDir(dir);
    }
  });
});
