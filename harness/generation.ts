/**
 * Which Debian generation's servers (Prosody, ejabberd, Dovecot, Postfix) a test run uses, and
 * how to run them. The host's own packages are one generation; the other one runs from a root
 * that scripts/system-deps.sh builds with mmdebstrap under /var/cache/xmpp-maildir/. A server in
 * that root runs through `unshare --mount` + `chroot`, with the temp dir and the checkout
 * bind-mounted at the same paths, so configs, sockets and Maildirs keep their host paths.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { repoRoot } from "./paths.js";

export type GenerationName = "debian12" | "debian13";
export const GENERATIONS: readonly GenerationName[] = ["debian12", "debian13"];
/** Picks the generation for this process; unset means the host's own packages. */
export const SERVERS_ENV = "XMPP_MAILDIR_SERVERS";
/** Where system-deps.sh keeps the roots (one per Debian suite); XMPP_MAILDIR_ROOTS_DIR overrides it for both. */
export const ROOTS_DIR = "/var/cache/xmpp-maildir";
export const ROOTS_DIR_ENV = "XMPP_MAILDIR_ROOTS_DIR";
/** Written last by system-deps.sh: a root without it is half-built and never used. */
export const ROOT_STAMP = "etc/xmpp-maildir-root";
const SUITES: Readonly<Record<GenerationName, string>> = { debian12: "bookworm", debian13: "trixie" };
const LABELS: Readonly<Record<GenerationName, string>> = { debian12: "Debian 12", debian13: "Debian 13" };

export interface Generation {
  readonly name: GenerationName;
  /** The mmdebstrap root the servers run from; undefined: the host's own packages. */
  readonly root: string | undefined;
}

/** The host's generation, from /etc/debian_version ("12.11", "13.1", or "trixie/sid"). */
export function hostGeneration(): GenerationName {
  const version = readFileSync("/etc/debian_version", "utf8").trim();
  if (/^12\.|^bookworm/.test(version)) return "debian12";
  if (/^13\.|^trixie/.test(version)) return "debian13";
  throw new Error(`unsupported Debian version '${version}' in /etc/debian_version; Debian 12 or 13 is needed`);
}

export function rootPath(name: GenerationName): string {
  return path.join(process.env[ROOTS_DIR_ENV] || ROOTS_DIR, SUITES[name]);
}

/** One line for a human: why the generation cannot run, and how to fix it. */
export function missingRootMessage(name: GenerationName): string {
  return `${LABELS[name]}'s servers are not installed: ${rootPath(name)} is missing or incomplete; run \`npm run system-deps\` as root (it needs http://deb.debian.org) and retry`;
}

/** The generation this process runs, from XMPP_MAILDIR_SERVERS (default: the host's). */
export function currentGeneration(): Generation {
  const wanted = process.env[SERVERS_ENV] || hostGeneration();
  if (!GENERATIONS.includes(wanted as GenerationName)) {
    throw new Error(`${SERVERS_ENV}=${wanted}: expected one of ${GENERATIONS.join(", ")}`);
  }
  const name = wanted as GenerationName;
  if (name === hostGeneration()) return { name, root: undefined };
  const root = rootPath(name);
  if (!existsSync(path.join(root, ROOT_STAMP))) throw new Error(missingRootMessage(name));
  return { name, root };
}

/**
 * Runs in the root: a private mount namespace (nothing we mount is seen outside), /proc and /dev,
 * the bind mounts (created in the root on first use), then `exec chroot`, so the server keeps
 * this process's pid and the harness's SIGTERM reaches it.
 */
const ENTER_ROOT = [
  "set -e",
  'root=$1; userspec=$2; binds=$3; shift 3',
  'mount -t proc proc "$root/proc"',
  'mount --rbind /dev "$root/dev"',
  'for dir in $binds; do mkdir -p "$root$dir"; mount --rbind "$dir" "$root$dir"; done',
  'if [ -n "$userspec" ]; then exec chroot --userspec="$userspec" "$root" "$@"; fi',
  'exec chroot "$root" "$@"',
].join("\n");

/** What a server in the root must see at the same path: temp dirs and the checkout. */
function bindDirs(): string[] {
  const dirs = [realpathSync(os.tmpdir()), repoRoot()];
  for (const dir of dirs) {
    if (/\s/.test(dir)) throw new Error(`path with whitespace cannot be bind-mounted into the servers' root: ${dir}`);
  }
  return [...new Set(dirs)];
}

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export interface ServerCommand {
  readonly command: string;
  readonly args: string[];
  /** uid/gid for spawn(): set on the host only (in the root, chroot --userspec switches). */
  readonly owner: Owner | undefined;
}

/** `command args` as the generation runs it, optionally as another user. */
export function serverCommand(command: string, args: readonly string[], owner?: Owner, generation = currentGeneration()): ServerCommand {
  if (generation.root === undefined) return { command, args: [...args], owner };
  const userspec = owner ? `${owner.uid}:${owner.gid}` : "";
  return {
    command: "unshare",
    args: ["--mount", "--propagation", "private", "--", "sh", "-c", ENTER_ROOT, "sh", generation.root, userspec, bindDirs().join(" "), command, ...args],
    owner: undefined,
  };
}

/** A system account of the generation's packages (uid/gid differ between the root and the host). */
export function systemAccount(name: string, generation = currentGeneration()): Owner | undefined {
  const passwd = generation.root === undefined
    ? spawnSync("getent", ["passwd", name], { encoding: "utf8" }).stdout
    : readFileSync(path.join(generation.root, "etc", "passwd"), "utf8");
  const line = passwd.split("\n").find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) return undefined;
  return { uid: Number(uid), gid: Number(gid) };
}

/** Installed versions of the server packages, as dpkg knows them in the generation ("2.4.1"). */
export function serverVersions(generation = currentGeneration()): Record<string, string> {
  const packages = ["prosody", "ejabberd", "dovecot-core", "postfix"];
  const query = ["-W", "-f", "${Package} ${Version}\\n", ...packages];
  const out = generation.root === undefined
    ? spawnSync("dpkg-query", query, { encoding: "utf8" }).stdout
    : spawnSync("chroot", [generation.root, "dpkg-query", ...query], { encoding: "utf8" }).stdout;
  const versions: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const [pkg, version] = line.split(" ");
    // "1:2.4.1+dfsg1-6" → "2.4.1": no epoch, no Debian revision or repack suffix.
    if (pkg && version) versions[pkg] = version.replace(/^\d+:/, "").replace(/[-+~].*$/, "");
  }
  return versions;
}

const labels = new Map<string, string>();

/** "[debian13: prosody 13.0.1, ejabberd 24.12, dovecot 2.4.1, postfix 3.10.13]", for test names. */
export function generationLabel(generation = currentGeneration()): string {
  let label = labels.get(generation.name);
  if (label === undefined) {
    const v = serverVersions(generation);
    const parts = [["prosody", "prosody"], ["ejabberd", "ejabberd"], ["dovecot", "dovecot-core"], ["postfix", "postfix"]]
      .map(([name, pkg]) => `${name!} ${v[pkg!] ?? "missing"}`);
    label = `[${generation.name}: ${parts.join(", ")}]`;
    labels.set(generation.name, label);
  }
  return label;
}

/** A top-level describe() name with the generation that ran it. */
export function onServers(name: string): string {
  return `${name} ${generationLabel()}`;
}
