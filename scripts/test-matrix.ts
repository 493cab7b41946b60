// `npm test`'s integration part: every integration suite once per server generation, Debian 12's
// servers and Debian 13's (harness/generation.ts), one after the other. One generation's servers
// come from the host, the other's from the root that `npm run system-deps` builds. A missing
// root fails the run at once with one line, before anything runs: the matrix is never run half.
import { spawn } from "node:child_process";
import path from "node:path";
import { GENERATIONS, SERVERS_ENV, currentGeneration, generationLabel, hostGeneration, type GenerationName } from "../harness/generation.js";
import { repoRoot } from "../harness/paths.js";

/** The suites share the machine's fixed resources (CPU, the Erlang/Dovecot process tables). */
const TEST_CONCURRENCY = 1;

function minutes(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** The counts node's test runner prints last ("# pass 61"), summed over the generations. */
interface Counts {
  pass: number;
  fail: number;
  skipped: number;
}
const COUNT_LINE = /^(?:#|ℹ) (pass|fail|skipped) (\d+)$/;

function runSuites(name: GenerationName, counts: Counts): Promise<number> {
  const dir = path.join(repoRoot(), "dist", "test", "integration");
  // The runner picks its reporter by whether stdout is a terminal; it now writes to a pipe, so
  // keep the one a person at a terminal would have had (spec; TAP otherwise, as in CI).
  const reporter = process.stdout.isTTY ? ["--test-reporter=spec"] : [];
  const child = spawn(process.execPath, ["--test", ...reporter, `--test-concurrency=${TEST_CONCURRENCY}`, dir + path.sep], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, [SERVERS_ENV]: name },
  });
  // Passed through as it comes; only the runner's closing counts are read on the way.
  let partial = "";
  child.stdout.on("data", (chunk: Buffer) => {
    process.stdout.write(chunk);
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      const m = COUNT_LINE.exec(line.trim());
      if (m) counts[m[1] as keyof Counts] += Number(m[2]);
    }
  });
  return new Promise((resolve) => child.once("close", (code, signal) => resolve(code ?? (signal ? 128 : 1))));
}

async function main(): Promise<void> {
  const only = process.env[SERVERS_ENV];
  const wanted = only ? GENERATIONS.filter((g) => g === only) : GENERATIONS;
  if (wanted.length === 0) throw new Error(`${SERVERS_ENV}=${only}: expected one of ${GENERATIONS.join(", ")}`);
  // Check every generation first: a missing root is one line and exit 1, before any suite runs.
  const labels = new Map<GenerationName, string>();
  for (const name of wanted) {
    process.env[SERVERS_ENV] = name;
    labels.set(name, generationLabel(currentGeneration()));
  }
  if (only) process.env[SERVERS_ENV] = only;
  else delete process.env[SERVERS_ENV];
  if (only) console.log(`test-matrix: ${SERVERS_ENV}=${only}: only that generation runs (unset it for both)`);
  const results: string[] = [];
  const counts: Counts = { pass: 0, fail: 0, skipped: 0 };
  let failed = false;
  for (const name of wanted) {
    const where = name === hostGeneration() ? "the host's packages" : "the mmdebstrap root";
    console.log(`\ntest-matrix: integration suites on ${labels.get(name)!} (${where})`);
    const started = Date.now();
    const code = await runSuites(name, counts);
    failed ||= code !== 0;
    results.push(`${labels.get(name)!}: ${code === 0 ? "passed" : `FAILED (exit ${code})`} in ${minutes(Date.now() - started)}`);
  }
  console.log(`\ntest-matrix:\n  ${results.join("\n  ")}`);
  // One plain closing line for the whole matrix (both generations' integration suites).
  console.log(`integration: ${counts.pass} passed, ${counts.fail} failed, ${counts.skipped} skipped`);
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`test-matrix: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
