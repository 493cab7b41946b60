// BENCH_FS=ext4 (bench/bench-fs.ts) must refuse at once, in one line that names BENCH_FS and the
// fix, when it cannot make its file system; and change nothing when unset.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { BenchFsError, parseSize, planBenchFs } from "../../bench/bench-fs.js";

const REPLAY = fileURLToPath(new URL("../../bench/replay.js", import.meta.url));
const NOBODY = "65534";
/** Refusing happens before any work; anything near this means the bench ran instead. */
const REFUSAL_TIMEOUT_MS = 20_000;

describe("BENCH_FS", () => {
  const fine = () => undefined;

  test("unset, or in the child already on the mount: the bench runs as before, the host is not asked", () => {
    const asked = () => assert.fail("the host was probed");
    assert.equal(planBenchFs({}, asked), undefined);
    assert.equal(planBenchFs({ BENCH_FS: "" }, asked), undefined);
    assert.equal(planBenchFs({ BENCH_FS: "ext4", BENCH_FS_MOUNTED: "made by the parent" }, asked), undefined);
  });

  test("ext4 with the default or a given size", () => {
    assert.deepEqual(planBenchFs({ BENCH_FS: "ext4" }, fine), { kind: "ext4", sizeBytes: 8 * 2 ** 30 });
    assert.deepEqual(planBenchFs({ BENCH_FS: "ext4", BENCH_FS_SIZE: "512M" }, fine), { kind: "ext4", sizeBytes: 512 * 2 ** 20 });
    assert.equal(parseSize("2GiB"), 2 * 2 ** 30);
    assert.equal(parseSize("134217728"), 2 ** 27);
  });

  test("an unknown file system, a bad size and a host without root or loop devices are one-line errors naming the variable", () => {
    const cases: [NodeJS.ProcessEnv, () => string | undefined, RegExp][] = [
      [{ BENCH_FS: "xfs" }, fine, /^BENCH_FS=xfs: .*ext4.*unset BENCH_FS/],
      [{ BENCH_FS: "ext4", BENCH_FS_SIZE: "lots" }, fine, /^BENCH_FS_SIZE=lots: /],
      [{ BENCH_FS: "ext4", BENCH_FS_SIZE: "1M" }, fine, /^BENCH_FS_SIZE=1M: .*at least 64M/],
      [{ BENCH_FS: "ext4" }, () => "needs root (it runs mkfs.ext4 and mount -o loop)", /^BENCH_FS=ext4 needs root .*unset BENCH_FS/],
      [{ BENCH_FS: "ext4" }, () => "needs a free loop device (losetup -f: no free loop device)", /^BENCH_FS=ext4 needs a free loop device/],
    ];
    for (const [env, problem, expected] of cases) {
      assert.throws(() => planBenchFs(env, problem), (err: unknown) => {
        assert.ok(err instanceof BenchFsError);
        assert.equal(err.code, "BENCH_FS");
        assert.match(err.message, expected);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    }
  });

  test("a real bench run without root stops at once with that line and exit 2", () => {
    // As root (this VM), drop to nobody: the check under test is the real one, not a stand-in.
    const asRoot = process.getuid?.() === 0;
    const command = asRoot ? "setpriv" : process.execPath;
    const args = asRoot ? [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, REPLAY] : [REPLAY];
    const result = spawnSync(command, args, {
      encoding: "utf8",
      timeout: REFUSAL_TIMEOUT_MS,
      env: { ...process.env, BENCH_FS: "ext4", BENCH_REPLAY_MESSAGES: "100", TMPDIR: "/tmp" },
    });
    assert.equal(result.error, undefined);
    assert.equal(result.stdout, "");
    assert.equal(result.stderr, "BENCH_FS=ext4 needs root (it runs mkfs.ext4 and mount -o loop); fix that or unset BENCH_FS to run on TMPDIR as it is\n");
    assert.equal(result.status, 2);
  });
});
