// Cost of MIME rendering per message, against the baseline that matters: an fsync'd Maildir
// delivery of the same bytes on the same disk, in the same run. Absolute numbers on shared
// machines mean little; the ratio says whether MIME is the bottleneck. renderMail's own writer
// (src/mail/mime-writer.ts) is also timed against MailComposer (renderMailComposed, the reference
// it replaced), interleaved in the same process: ratio_writer_vs_composer (<1: the writer is cheaper).
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { captureCopy, type ArchiveRecord } from "../src/capture/index.js";
import { renderMail, type RenderOptions } from "../src/mail/index.js";
import { renderMailComposed } from "../src/mail/render.js";
import { createMaildirWriter } from "../src/maildir/index.js";
import { copyIq } from "../test/support/stanzas.js";

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
/** Rounds of the writer-vs-MailComposer comparison; each renderer's best round counts. */
const ROUNDS = Number(process.env.BENCH_MIME_ROUNDS ?? 3);
/** Deliveries in flight for the disk baseline: 16–64 is where fsync'd writes peak here. */
const DISK_CONCURRENCY = 32;
const ctx = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date(), maxStanzaBytes: 1_048_576 };

function records(n: number): ArchiveRecord[] {
  const out: ArchiveRecord[] = [];
  for (let i = 0; i < n; i++) {
    // 0.2–4 kB bodies with some non-ASCII, like real chat.
    const body = `Message ${i} – grüße ☕ `.repeat(10 + (i % 180));
    const inner = `<message xmlns='jabber:client' from='peer${i % 50}@example.net/r' to='user${i % 100}@example.org' type='chat' id='m${i}'><body>${body}</body></message>`;
    const result = captureCopy(copyIq({ inner }), ctx);
    if (result.kind !== "archive") throw new Error("bench input not archivable");
    out.push(result.record);
  }
  return out;
}

async function main(): Promise<void> {
  const input = records(MESSAGES);
  // Warm up the JIT so the first measured messages are not compile time.
  for (const r of input.slice(0, 200)) await renderMail(r, { domain: "archive.example.org" });

  let t = performance.now();
  const rendered: Buffer[] = [];
  for (const r of input) rendered.push((await renderMail(r, { domain: "archive.example.org" })).bytes);
  const renderMs = performance.now() - t;

  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-bench-"));
  try {
    const writer = createMaildirWriter();
    t = performance.now();
    for (let i = 0; i < rendered.length; i++) await writer.deliver(path.join(dir, `u${i % 100}`), rendered[i]!);
    const seqMs = performance.now() - t;

    t = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: DISK_CONCURRENCY }, async () => {
      while (next < rendered.length) {
        const i = next++;
        await writer.deliver(path.join(dir, `c${i % 100}`), rendered[i]!);
      }
    }));
    const parMs = performance.now() - t;

    const avgBytes = rendered.reduce((s, b) => s + b.length, 0) / rendered.length;
    const perMsg = (ms: number) => ((ms / MESSAGES) * 1000).toFixed(0).padStart(6);
    const rate = (ms: number) => Math.round(MESSAGES / (ms / 1000)).toString().padStart(7);
    console.log(`messages=${MESSAGES} avg_mail_bytes=${Math.round(avgBytes)} node=${process.version} cpus=${os.cpus().length}`);
    console.log("stage                              µs/msg   msgs/s");
    console.log(`MIME render (renderMail)         ${perMsg(renderMs)}  ${rate(renderMs)}`);
    console.log(`Maildir deliver, fsync, 1 at a time${perMsg(seqMs)}  ${rate(seqMs)}`);
    console.log(`Maildir deliver, fsync, ${DISK_CONCURRENCY} in flight ${perMsg(parMs)}  ${rate(parMs)}`);
    console.log(`ratio_render_vs_disk_parallel=${(parMs / renderMs).toFixed(2)} (>1: one core renders faster than the disk stores)`);
    await compareRenderers(input);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type Render = (record: ArchiveRecord, options: RenderOptions) => Promise<{ bytes: Buffer }>;

/** CPU and wall time per message of one pass over the input. */
async function pass(render: Render, input: readonly ArchiveRecord[], options: RenderOptions): Promise<{ cpuUs: number; wallUs: number }> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  for (const r of input) await render(r, options);
  const wallUs = ((performance.now() - t) * 1000) / input.length;
  const used = process.cpuUsage(cpu);
  return { cpuUs: (used.user + used.system) / input.length, wallUs };
}

async function compareRenderers(input: readonly ArchiveRecord[]): Promise<void> {
  const renderers: [string, Render][] = [["MailComposer (reference)", renderMailComposed], ["writer (renderMail)", renderMail]];
  const chat: RenderOptions = { domain: "archive.example.org", chat: { maxAttachmentBytes: 262_144 } };
  console.log("renderer, options                   cpu_µs/msg  wall_µs/msg (best of rounds)");
  for (const [label, options] of [["plain", { domain: "archive.example.org" }], ["chat", chat]] as const) {
    for (const [, render] of renderers) for (const r of input.slice(0, 200)) await render(r, options);
    const best = renderers.map(() => ({ cpuUs: Infinity, wallUs: Infinity }));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, [, render]] of renderers.entries()) {
        const result = await pass(render, input, options);
        best[i] = { cpuUs: Math.min(best[i]!.cpuUs, result.cpuUs), wallUs: Math.min(best[i]!.wallUs, result.wallUs) };
      }
    }
    for (const [i, [name]] of renderers.entries()) console.log(`${`${name}, ${label}`.padEnd(36)}${best[i]!.cpuUs.toFixed(0).padStart(10)}  ${best[i]!.wallUs.toFixed(0).padStart(11)}`);
    console.log(`ratio_writer_vs_composer_${label}=${(best[1]!.cpuUs / best[0]!.cpuUs).toFixed(2)} (cpu) ${(best[1]!.wallUs / best[0]!.wallUs).toFixed(2)} (wall)`);
  }
}

await main();
