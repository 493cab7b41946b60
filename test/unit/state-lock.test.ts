// One process per state dir: a second one is refused with a config error that names the key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openJournal } from "../../src/dedupe/index.js";
import { ConfigError } from "../../src/errors.js";

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

test("a state dir held by a running xmpp-maildir is refused; a stale lock is taken over", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-lock-"));
  // A real xmpp-maildir process (retrying a closed port) holds the state dir.
  const holder = spawn(process.execPath, [cli, "run", "--domain", "archive.example.org", "--maildir", path.join(dir, "%d", "%n"), "--state-dir", path.join(dir, "state"), "--xmpp-port", "1"], {
    env: { PATH: process.env.PATH, XMPP_MAILDIR_SECRET: "s" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.on("data", (d: Buffer) => d.toString().includes("not connected") && resolve());
      holder.once("exit", (code) => reject(new Error(`holder exited ${code}`)));
    });
    assert.equal((await readFile(path.join(dir, "state", "lock"), "utf8")).trim(), String(holder.pid));
    await assert.rejects(openJournal(path.join(dir, "state")), (err: unknown) => err instanceof ConfigError && err.key === "state-dir" && err.message.includes(String(holder.pid)));
  } finally {
    holder.kill("SIGTERM");
    await new Promise((r) => holder.once("exit", r));
  }
  await assert.rejects(readFile(path.join(dir, "state", "lock")), { code: "ENOENT" }, "a clean stop releases the lock");
  // A lock left by a dead process (here: a pid that cannot exist) is taken over.
  await writeFile(path.join(dir, "state", "lock"), "4194304\n");
  const journal = await openJournal(path.join(dir, "state"));
  assert.equal((await readFile(path.join(dir, "state", "lock"), "utf8")).trim(), String(process.pid));
  await journal.close();
  await rm(dir, { recursive: true, force: true });
});
