// The Prosody module writes each copy with its own serialiser (server/prosody/mod_xmpp_maildir.lua,
// between "-- serialiser: begin" and "-- serialiser: end") instead of util.stanza's tostring(),
// and the archive promises the original stanza kept exactly: its output must be byte for byte
// tostring()'s. test/fixtures/prosody-serialiser.lua loads that block alone and compares it with
// the generation's own util.stanza (Prosody 0.12 on Debian 12, 13 on Debian 13), run by the
// generation's lua5.4, over seeded random stanzas and real message shapes.
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { onServers, serverCommand } from "../../harness/generation.js";
import { prosodyPluginDir, repoRoot } from "../../harness/paths.js";

const FIXTURE = path.join(repoRoot(), "test", "fixtures", "prosody-serialiser.lua");
const MODULE = path.join(prosodyPluginDir(), "mod_xmpp_maildir.lua");
/** Random stanzas per seed; as many real message shapes again, plus a few fixed edge cases. */
const COUNT = 500;
const SEEDS = [1, 7, 20261202];

describe(onServers("Prosody module's serialiser against util.stanza's tostring()"), () => {
  for (const seed of SEEDS) {
    test(`to_xml(s) == tostring(s) for ${COUNT * 2} stanzas, seed ${seed}`, () => {
      const cmd = serverCommand("lua5.4", [FIXTURE, MODULE, String(seed), String(COUNT)]);
      const run = spawnSync(cmd.command, cmd.args, { encoding: "utf8", timeout: 120_000 });
      assert.equal(run.error, undefined, `lua5.4 did not run: ${run.error?.message ?? ""}`);
      assert.equal(run.status, 0, `serialiser differs (exit ${run.status ?? run.signal}):\n${run.stdout}${run.stderr}`);
      const match = /^compared (\d+) stanzas, (\d+) texts$/m.exec(run.stdout);
      assert.ok(match, `no summary line in: ${run.stdout}${run.stderr}`);
      assert.ok(Number(match[1]) >= COUNT * 2, `only ${match[1]} stanzas compared`);
      assert.ok(Number(match[2]) >= COUNT, `only ${match[2]} texts compared`);
    });
  }
});
