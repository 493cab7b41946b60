// `xmpp-maildir run --help | head`: the reader goes away before we have written; the CLI ends
// quietly (exit 0) instead of dying on an unhandled EPIPE.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { cliPath } from "../../harness/component.js";

test("help piped into a reader that has already gone: exit 0, no EPIPE stack trace", async () => {
  const child = spawn(process.execPath, [cliPath(), "run", "--help"], { stdio: ["ignore", "pipe", "pipe"] });
  // Close our end at once, as `head` does after its first lines: the child's write gets EPIPE.
  child.stdout.destroy();
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  assert.equal(stderr, "");
  assert.equal(code, 0);
});
