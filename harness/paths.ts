/**
 * Locating the repository from compiled harness code
 * (dist/harness/*.js) or from the sources (harness/*.ts).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_NAME = "xmpp-maildir";
/** dist/harness is two levels below the root; a little slack for other layouts. */
const MAX_LEVELS_UP = 5;

/**
 * The repository root: the nearest ancestor of this file that holds a
 * package.json. Computed on each call (no import-time side effects).
 */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i <= MAX_LEVELS_UP; i++) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`no package.json (${PACKAGE_NAME}) above ${fileURLToPath(import.meta.url)}`);
}

/** server/prosody: the product's Prosody plugin directory (pass as pluginPath). */
export function prosodyPluginDir(): string {
  return path.join(repoRoot(), "server", "prosody");
}
