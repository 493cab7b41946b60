import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ROOTS_DIR_ENV, SERVERS_ENV, currentGeneration, hostGeneration, missingRootMessage, serverCommand } from "../../harness/generation.js";
import { variables24 } from "../../harness/dovecot-syntax.js";
import { compileTemplate } from "../../src/maildir/index.js";

const other = () => (hostGeneration() === "debian12" ? "debian13" : "debian12");

test("the host's own generation runs its commands as they are", () => {
  const generation = { name: hostGeneration(), root: undefined };
  assert.deepEqual(serverCommand("dovecot", ["-F"], { uid: 1, gid: 2 }, generation), { command: "dovecot", args: ["-F"], owner: { uid: 1, gid: 2 } });
});

test("the other generation's commands run through unshare + chroot, the owner switched by chroot", () => {
  const run = serverCommand("ejabberdctl", ["foreground"], { uid: 103, gid: 106 }, { name: other(), root: "/r" });
  assert.equal(run.command, "unshare");
  assert.deepEqual(run.args.slice(0, 4), ["--mount", "--propagation", "private", "--"]);
  assert.deepEqual(run.args.slice(-2), ["ejabberdctl", "foreground"]);
  assert.ok(run.args.includes("103:106"));
  assert.equal(run.owner, undefined);
  assert.match(run.args[6]!, /exec chroot/);
});

test("a missing root is one line that says how to retry, and nothing runs half-built", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-roots-"));
  const saved = { roots: process.env[ROOTS_DIR_ENV], servers: process.env[SERVERS_ENV] };
  try {
    process.env[ROOTS_DIR_ENV] = dir;
    process.env[SERVERS_ENV] = other();
    assert.throws(() => currentGeneration(), (e: unknown) => e instanceof Error && e.message === missingRootMessage(other()));
    assert.equal(missingRootMessage(other()).split("\n").length, 1);
    assert.match(missingRootMessage(other()), /npm run system-deps/);
  } finally {
    for (const [key, value] of [[ROOTS_DIR_ENV, saved.roots], [SERVERS_ENV, saved.servers]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await rm(dir, { recursive: true, force: true });
  }
});

test("the harness's 2.3 template in 2.4's variables resolves to the same paths", () => {
  const t23 = "/t/mail/%d/%n/Maildir";
  const t24 = variables24(t23);
  assert.equal(t24, "/t/mail/%{user | domain}/%{user | username}/Maildir");
  const owner = { local: "alice", domain: "example.test" };
  assert.equal(compileTemplate(t24)(owner), compileTemplate(t23)(owner));
  assert.throws(() => variables24("/t/%x"), /%x/);
});
