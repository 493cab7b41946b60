// `xmpp-maildir check` against a real Prosody, run as the mail user like an admin would.
import { test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cliPath } from "../../harness/component.js";
import { mailUser } from "../../harness/mail-user.js";
import { COMPONENT, startStack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";

test(onServers("check reports each part of the setup, with a fix for what is wrong"), async () => {
  const dir = await makeTempDir("xmd-check-");
  const stack = await startStack({ dir, users: ["alice"] });
  const user = mailUser();
  const check = (secret: string, extra: string[] = []) =>
    spawnSync(process.execPath, [cliPath(), "check", "--domain", COMPONENT, "--maildir", stack.template, "--xmpp-port", String(stack.prosody.componentPort), ...extra], {
      env: { PATH: process.env.PATH, XMPP_MAILDIR_SECRET: secret },
      encoding: "utf8",
      uid: user.uid,
      gid: user.gid,
    });
  try {
    const good = check(stack.secret);
    assert.equal(good.status, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /^ok {3}config /m);
    assert.match(good.stdout, /^ok {3}maildir .* is writable/m);
    assert.match(good.stdout, /^ok {3}state /m);
    assert.match(good.stdout, new RegExp(`^ok {3}xmpp +handshake with 127\\.0\\.0\\.1:${stack.prosody.componentPort} as ${COMPONENT} accepted`, "m"));
    assert.doesNotMatch(good.stdout, /FAIL/);

    const wrongSecret = check("not-the-secret");
    assert.equal(wrongSecret.status, 1);
    assert.match(wrongSecret.stdout, /^FAIL xmpp .*refused the secret\n {14}fix: use the component_secret/m);
    assert.ok(!wrongSecret.stdout.includes("not-the-secret"), "the secret is never printed");

    const wrongDomain = spawnSync(process.execPath, [cliPath(), "check", "--domain", "nope.example.test", "--user-domain", "example.test", "--maildir", stack.template, "--xmpp-port", String(stack.prosody.componentPort)], {
      env: { PATH: process.env.PATH, XMPP_MAILDIR_SECRET: stack.secret },
      encoding: "utf8",
      uid: user.uid,
      gid: user.gid,
    });
    assert.equal(wrongDomain.status, 1);
    assert.match(wrongDomain.stdout, /^FAIL xmpp .*nope\.example\.test/m);

    const badRoot = check(stack.secret, ["--maildir", `${dir}/missing/%d/%n`]);
    assert.equal(badRoot.status, 1);
    assert.match(badRoot.stdout, /^FAIL maildir .*missing does not exist\n {14}fix: install -d/m);

    const badConfig = check(stack.secret, ["--xmpp-port", "http"]);
    assert.equal(badConfig.status, 2);
    assert.match(badConfig.stdout, /^FAIL config +xmpp-port: must be a whole number/m);
  } finally {
    await stack.stop();
    await removeDir(dir);
  }
});
