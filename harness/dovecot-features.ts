/**
 * The dovecot.conf lines a test adds for one feature (push notifications, quota), in the syntax
 * of the Dovecot under test. Where an admin copies the same lines from examples/, they are read
 * from there (examples/ for 2.3, examples/dovecot-2.4/ for 2.4), so the shipped examples are what
 * the tests run.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "./paths.js";
import { dovecotSyntax, type DovecotSyntax } from "./dovecot-syntax.js";

/** Where the examples for each syntax live. */
export function examplesDir(syntax: DovecotSyntax = dovecotSyntax()): string {
  return syntax === "2.4" ? path.join(repoRoot(), "examples", "dovecot-2.4") : path.join(repoRoot(), "examples");
}

/** An example config file's lines for the Dovecot under test. */
export function exampleConfig(name: string, syntax: DovecotSyntax = dovecotSyntax()): string[] {
  return readFileSync(path.join(examplesDir(syntax), name), "utf8").split("\n");
}

/**
 * An LMTP example's settings without the parts the harness writes itself: its `protocols` line
 * and its `service lmtp { … }` listener (the harness listens on a free loopback port).
 */
export function lmtpExampleSettings(name: string, syntax: DovecotSyntax = dovecotSyntax()): string[] {
  const kept: string[] = [];
  let depth = 0;
  for (const line of exampleConfig(name, syntax)) {
    const code = line.replace(/#.*/, "").trim();
    if (depth > 0 || /^service lmtp\b/.test(code)) {
      depth += (code.match(/\{/g) ?? []).length - (code.match(/\}/g) ?? []).length;
      continue;
    }
    if (code && !code.startsWith("protocols")) kept.push(line);
  }
  return kept;
}

/**
 * The passdb extra fields with which a Dovecot LMTP proxy (examples/dovecot-lmtp-proxy.conf) sends
 * a user to the backend whose LMTP listens on 127.0.0.1:`lmtpPort`. The names are the same in 2.3
 * and 2.4 (src/lmtp/lmtp-proxy.c; 2.4: src/lib-auth-client/auth-proxy.c).
 */
export function lmtpProxyFields(lmtpPort: number): string[] {
  return ["proxy", "host=127.0.0.1", `port=${lmtpPort}`];
}

/**
 * A userdb extra field (passwd-file column 8) that limits a user's storage, e.g. "1K".
 * 2.3: a quota_rule; 2.4: the quota_storage_size setting, overridden per user.
 */
export function quotaField(size: string, syntax: DovecotSyntax = dovecotSyntax()): string {
  return syntax === "2.4" ? `userdb_quota_storage_size=${size}` : `userdb_quota_rule=*:storage=${size}`;
}

/**
 * A Maildir++ quota for LMTP deliveries, as examples/dovecot-quota.conf sets it. With no grace:
 * 2.3's default grace is 10% of the limit, 2.4's is 10M, which would let the first over-quota
 * mail of a test through.
 */
export function quotaConfig(syntax: DovecotSyntax = dovecotSyntax()): string[] {
  return [...exampleConfig("dovecot-quota.conf", syntax), syntax === "2.4" ? "quota_storage_grace = 0" : "plugin {\n  quota_grace = 0\n}"];
}

/** The push_notification Lua driver running examples/dovecot-push.lua, posting to `url`. */
export function luaPushConfig(url: string, syntax: DovecotSyntax = dovecotSyntax()): string[] {
  return withUrl(exampleConfig("dovecot-push.conf", syntax), url)
    .map((line) => line.replace("/etc/dovecot/dovecot-push.lua", path.join(repoRoot(), "examples", "dovecot-push.lua")));
}

/** The built-in OX driver (no Lua), PUTting to `url` for users with the METADATA entry. */
export function oxPushConfig(url: string, syntax: DovecotSyntax = dovecotSyntax()): string[] {
  return withUrl(exampleConfig("dovecot-push-ox.conf", syntax), url);
}

/** The examples post to the default --push-port; a test's component listens elsewhere. */
function withUrl(lines: string[], url: string): string[] {
  return lines.map((line) => line.replace("http://127.0.0.1:8426/notify", url));
}
