// An older release of this project, built from git history, for the rolling-upgrade test: the
// component (dist/src/cli/main.js, compiled with this checkout's TypeScript and node_modules) and
// the server modules as that commit had them.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, symlink } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./paths.js";

const run = promisify(execFile);
/** Compiling the old src/ takes ~20 s on a quiet machine; a busy CI one may take minutes. */
const BUILD_TIMEOUT_MS = 300_000;

export interface OldRelease {
  readonly commit: string;
  /** Its component's CLI, for startComponent({ cli }). */
  readonly cli: string;
  /** Its server/prosody directory (mod_xmpp_maildir.lua). */
  readonly prosodyDir: string;
}

/** Extracts `commit` into dir/<commit> and builds its component. Fails with a clear message without git history. */
export async function buildOldRelease(commit: string, dir: string): Promise<OldRelease> {
  const root = repoRoot();
  try {
    await run("git", ["-C", root, "cat-file", "-e", `${commit}^{commit}`]);
  } catch (cause) {
    throw new Error(`commit ${commit} (the release before copy protocol v1) is not in ${root}'s git history: the rolling-upgrade test needs a full clone (git fetch --unshallow)`, { cause });
  }
  const out = path.join(dir, commit);
  await mkdir(out, { recursive: true });
  // Only what the component and the modules are made of; tsc finds nothing under the other include dirs.
  await run("sh", ["-c", 'git -C "$1" archive "$2" src server package.json tsconfig.json | tar -x -C "$3"', "sh", root, commit, out]);
  await symlink(path.join(root, "node_modules"), path.join(out, "node_modules"));
  try {
    await run(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(out, "tsconfig.json")], { timeout: BUILD_TIMEOUT_MS });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`building ${commit}'s component failed: ${e.stdout ?? ""}${e.stderr ?? ""}${e.message}`, { cause: err });
  }
  const cli = path.join(out, "dist", "src", "cli", "main.js");
  if (!existsSync(cli)) throw new Error(`building ${commit} gave no ${cli}`);
  return { commit, cli, prosodyDir: path.join(out, "server", "prosody") };
}
