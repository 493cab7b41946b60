// What one file create costs in the benches' temp directory right now, printed in the header of
// bench/e2e.ts and bench/throughput.ts. On this VM's root file system (ext4 without a journal) the
// inode allocator skips every free inode of the parent directory's block group that was deleted in
// the last 60 s (360 s while its inode table block is dirty): `recently_deleted()` in
// fs/ext4/ialloc.c, checked only when there is no journal. Every test and bench of every session
// makes and removes its temp directories under /tmp, so a create there scanned up to a whole
// group: 130-290 µs of CPU against 7-12 µs a few minutes later or in a quiet directory
// (docs/performance.md, helper e2e9). The component creates one file per copy, so its CPU per copy
// moves by that much with what else ran on the machine in the last minutes.
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** Enough creates to average over the scan; removing them adds 300 recent deletions, little next to a row's thousands. */
const CREATES = 300;

/** Mean CPU µs (user+sys) of one exclusive create in a new directory under `base`. */
export function createCostUs(base: string = os.tmpdir()): number {
  const dir = mkdtempSync(path.join(base, "xmd-create-cost-"));
  try {
    const before = process.cpuUsage();
    for (let i = 0; i < CREATES; i++) closeSync(openSync(path.join(dir, `f${i}`), "wx", 0o600));
    const used = process.cpuUsage(before);
    return (used.user + used.system) / CREATES;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The header line: `# file create in /tmp: 11.9 µs CPU (...)`. */
export function createCostLine(base: string = os.tmpdir()): string {
  return `# file create in ${base}: ${createCostUs(base).toFixed(1)} µs CPU (7-12 when quiet; ext4 without a journal: 130-290 after many deletions there in the last minutes, bench/create-cost.ts)`;
}
