// The steady 1,000/s rows of `npm run bench` beside the component's (issue #15 target 3): the same
// pacing and in-flight window for
//   writer          our Maildir writer alone (createMaildirWriter().deliver, as the disk row)
//   writer+journal  the same with the dedupe journal's prepare before each rename and commit
//                   after it: the component's whole storage path, without XMPP, capture, render
//   bare            a durable write with plain node:fs (create, write, fsync, close, rename,
//                   fsync of the directory, each mail on its own): the disk's own floor
// Each runs in a child process of its own (./steady-child.ts), with the thread pool the installed
// command gives the component, and reports its latency per mail and its CPU per mail (user and system time of all its
// threads). The bench input (copies, rendered mails) is shared with ./throughput.ts.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { captureCopy } from "../src/capture/index.js";
import { THREAD_POOL_SIZE } from "../src/cli/thread-pool.cjs";
import { renderMail } from "../src/mail/index.js";
import { parseStanza } from "../test/support/stanzas.js";

export const DOMAIN = "archive.example.org";
export const USERS = 200;
/** Like the Prosody module's xmpp_maildir_window. */
export const WINDOW = 64;
export const STEADY_RATE = 1000;
export const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? 5);

/** `user`: every copy to that one user (the folder-size phase); default spread over USERS. */
export function copies(n: number, tag: string, user?: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    // Bodies of 0.2–4 kB, a third of them with non-ASCII text.
    const unit = i % 3 === 0 ? "Grüße aus Köln ☕ " : "see you at eight, ok? ";
    const body = unit.repeat(Math.max(1, Math.round((200 + ((i * 7919) % 3800)) / unit.length)));
    out.push(
      `<iq type='set' id='${tag}-${i}' from='example.org' to='${DOMAIN}'><copy xmlns='urn:xmpp-maildir:copy:0' reason='offline'>` +
        `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-11-22T10:00:00Z'/>` +
        `<message xmlns='jabber:client' from='peer${i % 97}@example.net/r' to='${user ?? `u${i % USERS}`}@example.org' type='chat' id='m-${tag}-${i}'>` +
        `<body>${body}</body></message></forwarded></copy></iq>`,
    );
  }
  return out;
}

export async function renderAll(stanzas: string[]): Promise<Buffer[]> {
  const ctx = { componentDomain: DOMAIN, userDomain: "example.org", now: new Date(), maxStanzaBytes: 1 << 20 };
  const out: Buffer[] = [];
  for (const s of stanzas) {
    const result = captureCopy(parseStanza(s), ctx);
    if (result.kind !== "archive") throw new Error("bench input must be archivable");
    out.push((await renderMail(result.record, { domain: DOMAIN })).bytes);
  }
  return out;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export interface Paced {
  readonly seconds: number;
  /** Per operation, started → settled, ms. */
  readonly latencies: number[];
  /** Per operation, due (its time in the schedule) → settled, ms: a row that falls behind the rate shows here. */
  readonly dueLatencies: number[];
}

/**
 * Runs `one(i)` for i < count at `rate` per second with at most `window` unsettled, as
 * throughput.ts's feed() sends copies: a latency counts from the operation's start, so time spent
 * waiting for the window is not in it (the same for every row).
 */
export function pace(count: number, rate: number, window: number, one: (i: number) => Promise<void>): Promise<Paced> {
  const latencies: number[] = [];
  const dueLatencies: number[] = [];
  const started = performance.now();
  let next = 0;
  let active = 0;
  let settled = 0;
  return new Promise((resolve, reject) => {
    const pump = () => {
      while (active < window && next < count) {
        if (next >= ((performance.now() - started) / 1000) * rate) {
          setTimeout(pump, 2);
          return;
        }
        const at = performance.now();
        const due = started + (next * 1000) / rate;
        active += 1;
        one(next++).then(() => {
          const settledAt = performance.now();
          latencies.push(settledAt - at);
          dueLatencies.push(settledAt - due);
          active -= 1;
          settled += 1;
          if (settled === count) resolve({ seconds: (performance.now() - started) / 1000, latencies, dueLatencies });
          else pump();
        }, reject);
      }
    };
    pump();
  });
}

export type FloorKind = "writer" | "writer+journal" | "bare";
export const FLOOR_KINDS: readonly FloorKind[] = ["writer", "writer+journal", "bare"];

export interface FloorRow {
  readonly kind: string;
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** p99 counted from each mail's time in the schedule, not from its start (Paced). */
  readonly dueP99: number;
  readonly userUs: number;
  readonly sysUs: number;
}

/** Runs one floor row in a child process (./steady-child.ts) in `dir`, paced like the component's steady phase. */
export function runFloorRow(kind: FloorKind, dir: string): Promise<FloorRow> {
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), "steady-child.js");
  const proc = spawn(process.execPath, [child, kind, dir, String(STEADY_RATE * STEADY_SECONDS)], {
    env: {
      PATH: process.env.PATH ?? "",
      UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? THREAD_POOL_SIZE,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  proc.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    proc.once("error", reject);
    proc.once("exit", (code) => {
      if (code !== 0) reject(new Error(`steady-child ${kind} exited with ${code}: ${out}`));
      else resolve(JSON.parse(out.trim().split("\n").pop()!) as FloorRow);
    });
  });
}

export function floorLine(row: FloorRow): string {
  return `${row.kind.padEnd(16)} ${row.rate.toFixed(0).padStart(7)} ${row.p50.toFixed(1).padStart(7)} ${row.p99.toFixed(1).padStart(7)} ${row.max.toFixed(1).padStart(7)} ${row.dueP99.toFixed(1).padStart(8)} ${row.userUs.toFixed(0).padStart(9)} ${row.sysUs.toFixed(0).padStart(8)}`;
}

export const FLOOR_HEADER = "# steady row        rate/s  p50_ms  p99_ms  max_ms  due_p99  user_µs/mail  sys_µs/mail";
