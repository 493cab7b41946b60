// A slow disk and 10,000 copies arriving at once: memory stays bounded because the component
// answers `wait` beyond its queue, and every copy is still stored exactly once in the end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import v8 from "node:v8";
import vm from "node:vm";
import os from "node:os";
import path from "node:path";
import { createMaildirWriter, type MaildirWriter } from "../../src/maildir/index.js";
import { startArchiverHarness, type ArchiverHarness } from "../support/archiver-harness.js";

const COPIES = 10_000;
/** 8 kB bodies: were all 10,000 held at once (as parsed elements) they would take ~250 MB. */
const BODY = "z".repeat(8 * 1024);
/** The slow disk: every delivery takes this long, on top of the real write. */
const DISK_DELAY_MS = 15;
/** The bound: 64 writes plus 1,024 queued stanzas, with room for the test's own garbage. */
const MAX_LIVE_HEAP_GROWTH_MB = 80;
/** Live heap is sampled after a full GC: RSS would mostly count garbage not yet collected. */
const SAMPLE_MS = 250;

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;
const liveHeap = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

test(`a slow disk with ${COPIES} copies queued keeps memory bounded and loses nothing`, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-bp-"));
  const real = createMaildirWriter({ fsync: false });
  const slow: MaildirWriter = {
    async deliver(maildir, bytes, options) {
      await new Promise((r) => setTimeout(r, DISK_DELAY_MS));
      return real.deliver(maildir, bytes, options);
    },
  };
  const baseline = liveHeap();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, liveHeap())), SAMPLE_MS);
  let harness: ArchiverHarness | undefined;
  try {
    harness = await startArchiverHarness({ dir, writer: slow, logLevel: "silent", flags: { maildir: path.join(dir, "%d", "%n") } });
    const { server } = harness;
    const copy = (i: number) =>
      `<iq type='set' id='bp-${i}' from='example.org' to='archive.example.org'><copy xmlns='urn:xmpp-maildir:copy:0' reason='offline'>` +
      `<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='bob@example.net/r' to='u${i % 50}@example.org' type='chat' id='m${i}'><body>${i} ${BODY}</body></message></forwarded></copy></iq>`;
    // Like the server module: send everything, and send again whatever is answered with `wait`.
    const confirmed = new Set<number>();
    let waits = 0;
    let pending = Array.from({ length: COPIES }, (_, i) => i);
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      for (const i of batch) await server.sendDrained(copy(i));
      for (const i of batch) {
        const reply = await server.waitFor((el) => el.attrs.id === `bp-${i}`, 60_000);
        server.forget(reply);
        if (reply.attrs.type === "result") confirmed.add(i);
        else if (reply.getChild("error")?.attrs.type === "wait") {
          waits += 1;
          pending.push(i);
        } else assert.fail(`unexpected reply ${reply.toString()}`);
      }
    }
    assert.equal(confirmed.size, COPIES);
    assert.ok(waits > 0, "the excess was turned away with wait, not queued in memory");
    let files = 0;
    for (const user of await readdir(path.join(dir, "example.org"))) files += (await readdir(path.join(dir, "example.org", user, "new"))).length;
    assert.equal(files, COPIES, "each copy stored exactly once");
    const growthMb = (peak - baseline) / 2 ** 20;
    assert.ok(growthMb < MAX_LIVE_HEAP_GROWTH_MB, `live heap grew by ${growthMb.toFixed(0)} MB`);
    console.log(`# back-pressure: ${waits} wait answers, live heap peak +${growthMb.toFixed(1)} MB`);
  } finally {
    clearInterval(sampler);
    await harness?.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
