// bench/e2e.ts reports a rate only after checking every message landed exactly once; a check that
// miscounts would make the bench worthless, so it is tested here against mails our renderer writes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { plan } from "../../bench/e2e-load.js";
import { exactlyOnce, storedSubjects } from "../../bench/e2e-verify.js";
import { clockTicks, cpuUse, sampleCpu } from "../../bench/proc-stat.js";
import { captureCopy } from "../../src/capture/index.js";
import { renderMail } from "../../src/mail/index.js";
import { COMPONENT, DOMAIN } from "../../harness/stack.js";
import { parseStanza } from "../support/stanzas.js";

/** What the Prosody module sends for a message the bench's client sent. */
function copyOf(message: string, id: string): string {
  const inner = message.replace("<message ", `<message xmlns='jabber:client' from='s0@${DOMAIN}/bench' `);
  return `<iq type='set' id='${id}' from='${DOMAIN}' to='${COMPONENT}'><copy xmlns='urn:xmpp-maildir:copy:0' reason='offline'>` +
    `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-11-22T10:00:00Z'/>${inner}</forwarded></copy></iq>`;
}

describe("bench:e2e bookkeeping", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "xmd-bench-e2e-unit-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("every planned message is found by its token in the mail the component renders", async () => {
    const { perClient, expected } = plan("t-k2", 6, 2, ["r0", "r1"]);
    assert.deepEqual(expected.get("r0"), ["t-k2-000000", "t-k2-000002", "t-k2-000004"]);
    let n = 0;
    for (const stanza of perClient.flat()) {
      const result = captureCopy(parseStanza(copyOf(stanza, `c${n}`)), { componentDomain: COMPONENT, userDomain: DOMAIN, now: new Date(), maxStanzaBytes: 1 << 20 });
      if (result.kind !== "archive") assert.fail(`not archived: ${JSON.stringify(result)}`);
      const user = result.record.owner.local;
      await mkdir(path.join(dir, user, n % 2 === 0 ? "new" : "cur"), { recursive: true });
      await writeFile(path.join(dir, user, n % 2 === 0 ? "new" : "cur", `${n}.bench`), (await renderMail(result.record, { domain: COMPONENT })).bytes);
      n += 1;
    }
    const seen = await storedSubjects((user) => path.join(dir, user), ["r0", "r1"]);
    assert.deepEqual(exactlyOnce(expected, seen), []);
  });

  test("missing, doubled and foreign messages are each reported", () => {
    const expected = new Map([["r0", ["a", "b", "c"]], ["r1", ["d"]]]);
    const seen = new Map([["r0", ["a", "a", "c", "x"]], ["r1", []]]);
    assert.deepEqual(exactlyOnce(expected, seen), [
      "r0: 1 of 3 missing (b)",
      "r0: 1 stored more than once (a)",
      "r0: 1 not sent by this run (x)",
      "r1: 1 of 1 missing (d)",
    ]);
  });

  test("a process's CPU time read from /proc agrees with what Node measures itself", () => {
    const ticks = clockTicks();
    const before = sampleCpu(process.pid, ticks);
    const usage = process.cpuUsage();
    // Spin until this process has used 200 ms of CPU, however busy the machine is.
    const giveUp = performance.now() + 20_000;
    while (process.cpuUsage(usage).user < 200_000 && performance.now() < giveUp) Math.sqrt(Math.random());
    const use = cpuUse(before, sampleCpu(process.pid, ticks));
    const spent = process.cpuUsage(usage);
    const nodeMs = (spent.user + spent.system) / 1000;
    // /proc/<pid>/stat counts in clock ticks (10 ms at CLK_TCK 100).
    assert.ok(Math.abs(use.cpuMs - nodeMs) <= 30 + nodeMs * 0.1, `/proc ${use.cpuMs} ms, Node ${nodeMs} ms`);
    assert.ok(use.mainMs >= 150 && use.mainMs <= use.cpuMs + 20, `main thread ${use.mainMs} ms of ${use.cpuMs} ms`);
    assert.ok(use.run + use.wait <= 1.05, `run ${use.run} + queued ${use.wait}`);
  });
});
