/**
 * Which configuration syntax the Dovecot under test reads: 2.3 (Debian 12) or 2.4 (Debian 13),
 * from `dovecot --version` of the server generation under test (generation.ts). 2.4 refuses a
 * 2.3 config outright ("The first setting must be dovecot_config_version"), so every config the
 * harness writes is generated for one or the other.
 */
import { execFileSync } from "node:child_process";
import { serverCommand } from "./generation.js";

export type DovecotSyntax = "2.3" | "2.4";

let cached: { version: string; syntax: DovecotSyntax } | undefined;

/** "2.4.1-4 (7d8c0e5759)" → "2.4.1"; "2.3.19.1 (9b53102964)" → "2.3.19.1". */
export function dovecotVersion(): string {
  if (cached === undefined) {
    const { command, args } = serverCommand("dovecot", ["--version"]);
    const out = execFileSync(command, args, { encoding: "utf8" }).trim();
    const version = /^(\d+\.\d+(?:\.\d+)*)/.exec(out)?.[1];
    if (version === undefined) throw new Error(`cannot read Dovecot's version from \`dovecot --version\`: '${out}'`);
    const [major, minor] = version.split(".").map(Number);
    if (major !== 2 || (minor !== 3 && minor !== 4)) throw new Error(`Dovecot ${version} is not supported: 2.3 or 2.4 is needed`);
    cached = { version, syntax: minor === 4 ? "2.4" : "2.3" };
  }
  return cached.version;
}

export function dovecotSyntax(): DovecotSyntax {
  dovecotVersion();
  return cached!.syntax;
}

/**
 * A 2.3 path template (%d, %n, %u, %%) in 2.4's variables: %{user | domain}, %{user | username},
 * %{user}. The component's --maildir takes either, so the harness keeps one template.
 */
export function variables24(template: string): string {
  const names: Readonly<Record<string, string>> = { d: "%{user | domain}", n: "%{user | username}", u: "%{user}", "%": "%%" };
  return template.replace(/%(.)/g, (whole, v: string) => {
    const name = names[v];
    if (name === undefined) throw new Error(`no Dovecot 2.4 form for '${whole}' in '${template}'`);
    return name;
  });
}
