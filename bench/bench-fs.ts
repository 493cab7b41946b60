// BENCH_FS=ext4: run a bench with everything it puts under TMPDIR (Maildirs, journal, the servers'
// data dirs) on a fresh journaled ext4, made for this run in a loop-mounted sparse image.
// Why: this VM's root file system, which holds /tmp, is ext4 WITHOUT a journal, where each create
// skips every inode freed in the last 60-360 s (`recently_deleted()` in fs/ext4/ialloc.c, checked
// only without a journal; ./create-cost.ts), and every test and bench deletes under /tmp. A
// production mail store is journaled (ext4's default, XFS): no such skip, but fsync commits the
// journal. A fresh file system also carries no other run's deletions.
// The bench re-runs itself as a child with TMPDIR on the mount (one process tree, so every
// os.tmpdir() and the debian13 root's bind mount of it, harness/generation.ts, see the mount), and
// this parent unmounts and deletes the image whatever happens: failure, SIGINT, SIGTERM. It cannot
// after a SIGKILL: then `umount <tmp>/xfs-*` and remove it and <tmp>/xmd-benchfs-* by hand.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";

export const BENCH_FS_ENV = "BENCH_FS";
export const BENCH_FS_SIZE_ENV = "BENCH_FS_SIZE";
/** Set in the child: what the header line says about the file system (the parent made it). */
const MOUNTED_ENV = "BENCH_FS_MOUNTED";
/**
 * Sparse, so only what the bench writes takes space. 8 GiB holds the largest default rows
 * (throughput's 100,000-copy folder prefill, replay's 100,000 messages and its NDJSON) with room;
 * mkfs's default ratio gives it 524,288 inodes.
 */
const DEFAULT_SIZE = "8G";
const MIN_BYTES = 64 * 2 ** 20;
const SIZE_UNITS: Readonly<Record<string, number>> = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
/** A bench's servers are stopped before it exits; a busy mount after that is a leak worth a line, not a wait. */
const UMOUNT_TRIES = 5;
const UMOUNT_RETRY_MS = 200;
/** How long what the bench left running gets to stop after SIGTERM (servers flush and exit well within it). */
const GROUP_GRACE_MS = 500;

export class BenchFsError extends Error {
  override readonly name = "BenchFsError";
  readonly code = "BENCH_FS";
}

export interface BenchFsPlan {
  readonly kind: "ext4";
  readonly sizeBytes: number;
}

/** What the host lacks for a loop mount, in words; undefined when root, mkfs.ext4 and a free loop device are there. */
export function hostProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (it runs mkfs.ext4 and mount -o loop)";
  if (spawnSync("mkfs.ext4", ["-V"], { stdio: "ignore" }).error) return "needs mkfs.ext4 (Debian: e2fsprogs)";
  const loop = spawnSync("losetup", ["-f"], { encoding: "utf8" });
  if (loop.error || loop.status !== 0) return `needs a free loop device (losetup -f: ${(loop.stderr || loop.error?.message || "failed").trim()}; modprobe loop, or in a container pass /dev/loop-control and /dev/loop*)`;
  return undefined;
}

/** Parses `8G`, `512M`, `1073741824` (binary units, as mkfs and truncate read them). */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMGT]?)i?B?$/i.exec(text.trim());
  const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]! : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < MIN_BYTES) throw new BenchFsError(`${BENCH_FS_SIZE_ENV}=${text}: expected a size of at least 64M, e.g. 8G or 512M`);
  return bytes;
}

/**
 * What the environment asks for: undefined (BENCH_FS unset, or this is the child already on the
 * mount) means the bench runs as before. `problem` says what the host lacks (hostProblem); it is
 * asked only when BENCH_FS is set and valid. Throws a BenchFsError of one line that names BENCH_FS.
 */
export function planBenchFs(env: NodeJS.ProcessEnv, problem: () => string | undefined): BenchFsPlan | undefined {
  const kind = env[BENCH_FS_ENV];
  if (!kind || env[MOUNTED_ENV]) return undefined;
  if (kind !== "ext4") throw new BenchFsError(`${BENCH_FS_ENV}=${kind}: the one file system offered is ext4 (a fresh journaled ext4 in a loop image); unset ${BENCH_FS_ENV} for TMPDIR as it is`);
  const sizeBytes = parseSize(env[BENCH_FS_SIZE_ENV] || DEFAULT_SIZE);
  const lacking = problem();
  if (lacking) throw new BenchFsError(`${BENCH_FS_ENV}=ext4 ${lacking}; fix that or unset ${BENCH_FS_ENV} to run on TMPDIR as it is`);
  return { kind, sizeBytes };
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: "utf8" });
  if (result.error || result.status !== 0) {
    throw new BenchFsError(`${BENCH_FS_ENV}=ext4: \`${command} ${args.join(" ")}\` failed: ${(result.stderr || result.error?.message || `exit ${result.status}`).trim()}`);
  }
}

/** What is left of the bench's process group after it exited: TERM, a grace period, KILL. */
async function endGroup(signalGroup: (signal: NodeJS.Signals | 0) => boolean): Promise<void> {
  if (!signalGroup(0)) return;
  signalGroup("SIGTERM");
  await delay(GROUP_GRACE_MS);
  signalGroup("SIGKILL");
}

async function unmount(mnt: string): Promise<string | undefined> {
  let last = "";
  for (let i = 0; i < UMOUNT_TRIES; i++) {
    const result = spawnSync("umount", [mnt], { encoding: "utf8" });
    if (result.status === 0) return undefined;
    last = (result.stderr || result.error?.message || "").trim();
    await delay(UMOUNT_RETRY_MS);
  }
  // Something the bench started still holds a file there: detach it so the image can go.
  spawnSync("umount", ["-l", mnt]);
  return last;
}

/**
 * Call first in a bench's entry point: `if (!(await runOnBenchFs())) await main();`. Returns
 * false when the bench should run here as before; true when it ran (or failed to start) in a child
 * on a fresh mount, with process.exitCode set to the child's.
 */
export async function runOnBenchFs(): Promise<boolean> {
  let plan: BenchFsPlan | undefined;
  try {
    plan = planBenchFs(process.env, hostProblem);
  } catch (err) {
    if (!(err instanceof BenchFsError)) throw err;
    console.error(err.message);
    process.exitCode = 2;
    return true;
  }
  if (!plan) return false;
  // 0755: Dovecot's unprivileged processes traverse it to reach the Maildirs (harness/tmp.ts).
  const work = mkdtempSync(path.join(os.tmpdir(), "xmd-benchfs-"));
  chmodSync(work, 0o755);
  const image = path.join(work, "ext4.img");
  // The mount's root is the child's TMPDIR, at a path as short as /tmp's neighbours allow: Dovecot's
  // sockets go under it, and a unix socket path has 108 bytes (harness/dovecot-config.ts).
  const mnt = mkdtempSync(path.join(os.tmpdir(), "xfs-"));
  let signalled: NodeJS.Signals | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  // The bench runs in its own process group, so a signal and the clean-up reach what it started
  // too (replay's import child, the servers): an orphan left writing would hold the mount, and
  // after a lazy unmount would write into the directory under it.
  const signalGroup = (signal: NodeJS.Signals | 0): boolean => {
    try {
      if (child?.pid) process.kill(-child.pid, signal);
      return child?.pid !== undefined;
    } catch {
      return false; // ESRCH: the group is gone already.
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signalled = signal;
    signalGroup(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let mounted = false;
  try {
    const fd = openSync(image, "wx", 0o600);
    try {
      ftruncateSync(fd, plan.sizeBytes);
    } finally {
      closeSync(fd);
    }
    // mkfs's defaults (has_journal, data=ordered when mounted), but the inode tables and the
    // journal written now: lazy init would zero them from a kernel thread during the bench.
    run("mkfs.ext4", ["-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", image]);
    run("mount", ["-o", "loop", image, mnt]);
    mounted = true;
    // Like /tmp: everyone may create, only owners remove (Dovecot's and Prosody's users write there).
    chmodSync(mnt, 0o1777);
    if (signalled) return true;
    const description = `BENCH_FS=ext4, fresh ${(plan.sizeBytes / 2 ** 30).toFixed(1)} GiB sparse image ${image}`;
    child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: "inherit",
      detached: true,
      env: { ...process.env, TMPDIR: mnt, [MOUNTED_ENV]: description },
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child!.once("error", reject);
      child!.once("exit", (c, s) => resolve([c, s]));
    });
    process.exitCode = code ?? 128 + (signal ? os.constants.signals[signal] : 0);
  } catch (err) {
    if (!(err instanceof BenchFsError)) throw err;
    console.error(err.message);
    process.exitCode = 2;
  } finally {
    await endGroup(signalGroup);
    const busy = mounted ? await unmount(mnt) : undefined;
    if (busy !== undefined) console.error(`${BENCH_FS_ENV}=ext4: ${mnt} was still busy after the bench (${busy}); detached it lazily and left the directory`);
    rmSync(work, { recursive: true, force: true });
    // Only the empty mount point once it is unmounted; never what a failed unmount left there.
    if (!mounted || busy === undefined) rmSync(mnt, { recursive: true, force: true });
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (signalled && !process.exitCode) process.exitCode = 128 + os.constants.signals[signalled];
  }
  return true;
}

/** /proc/self/mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The mount holding `dir`: its mount point, type, source and options. */
function mountOf(dir: string): { point: string; type: string; source: string; options: string } | undefined {
  let best: { point: string; type: string; source: string; options: string } | undefined;
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    // id parent major:minor root point options [optional...] - type source super-options
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const point = unescape(left.split(" ")[4] ?? "");
    const [type = "?", source = "?", options = ""] = right.split(" ");
    const inside = point === "/" || dir === point || dir.startsWith(`${point}/`);
    if (inside && (!best || point.length >= best.point.length)) best = { point, type, source: unescape(source), options };
  }
  return best;
}

/**
 * The header line: which file system holds TMPDIR and, for ext4, whether it has a journal (jbd2
 * lists each journaled mount as /proc/fs/jbd2/<device>-8).
 */
export function fileSystemLine(): string {
  const tmp = realpathSync(os.tmpdir());
  const mount = mountOf(tmp);
  if (!mount) return `# file system of TMPDIR ${tmp}: unknown (not in /proc/self/mountinfo)`;
  const journal = mount.type === "ext4" ? (existsSync(`/proc/fs/jbd2/${path.basename(mount.source)}-8`) ? " with a journal" : " WITHOUT a journal") : "";
  const how = process.env[MOUNTED_ENV] ?? `${BENCH_FS_ENV} unset; ${BENCH_FS_ENV}=ext4 runs on a fresh journaled ext4`;
  return `# file system of TMPDIR ${tmp}: ${mount.type}${journal} on ${mount.source} at ${mount.point} (${how})`;
}
