import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadRunConfig } from "../../src/config/index.js";
import { ConfigError } from "../../src/errors.js";

const files: Record<string, string> = {
  "/etc/xmd.toml": 'domain = "archive.example.org"\nmaildir = "/var/vmail/%d/%n/Maildir"\nxmpp-port = 5400\n',
  "/etc/secret": "s3cret\n",
};
const readFile = (p: string) => {
  const text = files[p];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${p}'`), { code: "ENOENT" });
  return text;
};
const load = (flags: Record<string, string>, env: Record<string, string> = { XMPP_MAILDIR_SECRET: "x" }, configFile?: string) =>
  loadRunConfig({ flags, env, configFile, readFile });

function configError(key: string, pattern: RegExp) {
  return (err: unknown) => err instanceof ConfigError && err.key === key && pattern.test(err.message);
}

test("defaults, derived user domain, and the secret from the environment", () => {
  const config = load({ domain: "archive.example.org", maildir: "/var/vmail/%d/%n/Maildir" });
  assert.deepEqual(config, {
    xmppHost: "127.0.0.1",
    xmppPort: 5347,
    domain: "archive.example.org",
    maildir: "/var/vmail/%d/%n/Maildir",
    delivery: { kind: "maildir" },
    userDomain: "example.org",
    secret: "x",
    stateDir: "/var/vmail/.xmpp-maildir",
    maxStanzaBytes: 1_048_576,
    chat: { history: false, groupchat: false, folder: "Chats", keywords: false, maxAttachmentBytes: 262_144 },
    encrypted: "archive",
    logLevel: "info",
    bridge: { trigger: undefined, pushPort: 8426, imapUrl: "imap://example.org", smtpUrl: undefined, smtpLimits: { perMinute: 20, perDay: 300 }, uploadService: undefined, maxUploadBytes: 16_777_216 },
  });
});

test("--encrypted: archive (the default) or skip, from a flag or the environment; anything else is refused", () => {
  const base = { domain: "archive.example.org", maildir: "/m/%d/%n" };
  assert.equal(load({ ...base, encrypted: "skip" }).encrypted, "skip");
  assert.equal(load(base, { XMPP_MAILDIR_SECRET: "x", XMPP_MAILDIR_ENCRYPTED: "skip" }).encrypted, "skip");
  assert.throws(() => load({ ...base, encrypted: "decrypt" }), configError("encrypted", /archive, skip/));
});

test("mail ↔ XMPP options: trigger, URLs checked by scheme without echoing a password", () => {
  const config = load({ domain: "archive.example.org", maildir: "/m/%d/%n", watch: "push", "smtp-url": "smtps://u:pw@mx.example.org:465", "imap-url": "imap://mail.example.org/" });
  assert.deepEqual(config.bridge, { trigger: "push", pushPort: 8426, imapUrl: "imap://mail.example.org", smtpUrl: "smtps://u:pw@mx.example.org:465", smtpLimits: { perMinute: 20, perDay: 300 }, uploadService: undefined, maxUploadBytes: 16_777_216 });
  assert.throws(() => load({ domain: "archive.example.org", maildir: "/m/%d/%n", watch: "inotify" }), configError("watch", /off, fs, push/));
  assert.throws(
    () => load({ domain: "archive.example.org", maildir: "/m/%d/%n", "smtp-url": "http://u:secretpw@x" }),
    (err: unknown) => configError("smtp-url", /smtp:\/\//)(err) && !(err as Error).message.includes("secretpw"),
  );
});

test("--smtp-max-per-minute and --smtp-max-per-day: whole numbers, the minute not above the day, errors name the key", () => {
  const base = { domain: "archive.example.org", maildir: "/m/%d/%n" };
  assert.deepEqual(load({ ...base, "smtp-max-per-minute": "5", "smtp-max-per-day": "50" }).bridge.smtpLimits, { perMinute: 5, perDay: 50 });
  assert.deepEqual(load(base, { XMPP_MAILDIR_SECRET: "x", XMPP_MAILDIR_SMTP_MAX_PER_DAY: "1000" }).bridge.smtpLimits, { perMinute: 20, perDay: 1000 });
  assert.throws(() => load({ ...base, "smtp-max-per-minute": "0" }), configError("smtp-max-per-minute", /whole number from 1/));
  assert.throws(() => load({ ...base, "smtp-max-per-day": "ten" }), configError("smtp-max-per-day", /whole number from 1/));
  assert.throws(() => load({ ...base, "smtp-max-per-minute": "50", "smtp-max-per-day": "10" }), configError("smtp-max-per-minute", /more than smtp-max-per-day \(10\)/));
});

test("--deliver: maildir, lmtp://host:port or lmtp:/socket, from a flag, the environment or the file", () => {
  const base = { domain: "archive.example.org", maildir: "/m/%d/%n" };
  assert.deepEqual(load({ ...base, deliver: "maildir" }).delivery, { kind: "maildir" });
  assert.deepEqual(load({ ...base, deliver: "lmtp://127.0.0.1:24" }).delivery, { kind: "lmtp", target: { host: "127.0.0.1", port: 24 } });
  assert.deepEqual(load({ ...base, deliver: "lmtp://[::1]:2424/" }).delivery, { kind: "lmtp", target: { host: "::1", port: 2424 } });
  assert.deepEqual(load({ ...base, deliver: "lmtp://mail.example.org:24" }).delivery, { kind: "lmtp", target: { host: "mail.example.org", port: 24 } });
  assert.deepEqual(load({ ...base, deliver: "lmtp:/run/dovecot/lmtp" }).delivery, { kind: "lmtp", target: { socket: "/run/dovecot/lmtp" } });
  assert.deepEqual(load({ ...base, deliver: "lmtp:///run/dovecot/lmtp" }).delivery, { kind: "lmtp", target: { socket: "/run/dovecot/lmtp" } });
  assert.deepEqual(load(base, { XMPP_MAILDIR_SECRET: "x", XMPP_MAILDIR_DELIVER: "lmtp://10.0.0.5:24" }).delivery, { kind: "lmtp", target: { host: "10.0.0.5", port: 24 } });
  files["/etc/lmtp.toml"] = 'domain = "archive.example.org"\ndeliver = "lmtp://10.0.0.6:24"\nstate-dir = "/var/lib/xmpp-maildir"\n';
  const fromFile = load({}, { XMPP_MAILDIR_SECRET: "x" }, "/etc/lmtp.toml");
  assert.deepEqual(fromFile.delivery, { kind: "lmtp", target: { host: "10.0.0.6", port: 24 } });
  // Over LMTP, Dovecot writes the Maildirs: --maildir is optional, the state dir then is not.
  assert.equal(fromFile.maildir, undefined);
  assert.equal(fromFile.stateDir, "/var/lib/xmpp-maildir");
  // With --maildir too, the state dir defaults as before.
  assert.equal(load({ ...base, deliver: "lmtp://127.0.0.1:24" }).stateDir, "/m/.xmpp-maildir");
});

test("a bad --deliver names the key, the value, where it came from and the forms that work", () => {
  const base = { domain: "archive.example.org", maildir: "/m/%d/%n" };
  const bad: Array<[string, RegExp]> = [
    ["lmtp://mail.example.org", /no port.*lmtp:\/\/host:port.*got "lmtp:\/\/mail.example.org" \(from --deliver\)/],
    ["lmtp://mail.example.org:0", /port from 1 to 65535/],
    ["lmtp://mail.example.org:99999", /port from 1 to 65535/],
    ["smtp://mail.example.org:25", /must be maildir, lmtp:\/\/host:port or lmtp:\/path\/to\/socket/],
    ["Maildir++", /must be maildir, lmtp:\/\/host:port or lmtp:\/path\/to\/socket/],
    ["", /must be maildir/],
    ["lmtp:run/dovecot/lmtp", /absolute path/],
    ["lmtp://user:pw@mail.example.org:24", /just lmtp:\/\/host:port/],
    ["lmtp://mail.example.org:24/inbox", /just lmtp:\/\/host:port/],
    ["lmtp://:24", /not a URL/],
  ];
  for (const [value, pattern] of bad) {
    assert.throws(() => load({ ...base, deliver: value }), configError("deliver", pattern), value);
  }
  assert.throws(() => load(base, { XMPP_MAILDIR_SECRET: "x", XMPP_MAILDIR_DELIVER: "lmtp://h" }), configError("deliver", /\(from XMPP_MAILDIR_DELIVER\)/));
});

test("what --deliver lmtp still needs: a state dir without --maildir, --maildir for --watch and --smtp-url, an ASCII chats folder", () => {
  const lmtp = { domain: "archive.example.org", deliver: "lmtp://127.0.0.1:24" };
  assert.throws(() => load({ domain: "archive.example.org" }), configError("maildir", /required.*--maildir/));
  assert.throws(() => load(lmtp), configError("state-dir", /required with --deliver lmtp.*--state-dir/));
  const withState = { ...lmtp, "state-dir": "/var/lib/xmd" };
  assert.equal(load(withState).maildir, undefined);
  assert.throws(() => load({ ...withState, watch: "fs" }), configError("watch", /needs --maildir/));
  assert.throws(() => load({ ...withState, "smtp-url": "smtp://127.0.0.1:25" }), configError("smtp-url", /needs --maildir/));
  assert.equal(load({ ...withState, maildir: "/m/%d/%n", watch: "push" }).bridge?.trigger, "push");
  assert.throws(() => load({ ...withState, "chats-folder": "Чаты" }), configError("chats-folder", /ASCII with --deliver lmtp/));
  // In Maildir mode any folder name goes, as before.
  assert.equal(load({ domain: "archive.example.org", maildir: "/m/%d/%n", "chats-folder": "Чаты" }).chat?.folder, "Чаты");
});

test("metrics: off without --metrics-port, loopback by default, the port checked like any port", () => {
  const base = { domain: "archive.example.org", maildir: "/m/%d/%n" };
  assert.equal(load(base).metrics, undefined);
  assert.equal("metrics" in load({ ...base, "metrics-host": "0.0.0.0" }), false, "a host alone opens no listener");
  assert.deepEqual(load({ ...base, "metrics-port": "9464" }).metrics, { host: "127.0.0.1", port: 9464 });
  assert.deepEqual(load(base, { XMPP_MAILDIR_SECRET: "x", XMPP_MAILDIR_METRICS_PORT: "9465", XMPP_MAILDIR_METRICS_HOST: "::1" }).metrics, { host: "::1", port: 9465 });
  files["/etc/metrics.toml"] = 'domain = "archive.example.org"\nmaildir = "/m/%d/%n"\nmetrics-port = 9466\n';
  assert.deepEqual(load({}, { XMPP_MAILDIR_SECRET: "x" }, "/etc/metrics.toml").metrics, { host: "127.0.0.1", port: 9466 });
  assert.throws(() => load({ ...base, "metrics-port": "0" }), configError("metrics-port", /1 to 65535, got "0" \(from --metrics-port\)/));
  assert.throws(() => load({ ...base, "metrics-port": "65536" }), configError("metrics-port", /1 to 65535/));
  assert.throws(() => load(base, { XMPP_MAILDIR_SECRET: "x", XMPP_MAILDIR_METRICS_PORT: "prom" }), configError("metrics-port", /from XMPP_MAILDIR_METRICS_PORT/));
  assert.throws(() => load({ ...base, "metrics-port": "9464", "metrics-host": " " }), configError("metrics-host", /must not be empty/));
});

test("flags beat the environment, which beats the file", () => {
  const fromFile = load({}, { XMPP_MAILDIR_SECRET: "x" }, "/etc/xmd.toml");
  assert.equal(fromFile.xmppPort, 5400);
  const fromEnv = load({}, { XMPP_MAILDIR_SECRET: "x", XMPP_MAILDIR_XMPP_PORT: "5401" }, "/etc/xmd.toml");
  assert.equal(fromEnv.xmppPort, 5401);
  const fromFlag = load({ "xmpp-port": "5402" }, { XMPP_MAILDIR_SECRET: "x", XMPP_MAILDIR_XMPP_PORT: "5401" }, "/etc/xmd.toml");
  assert.equal(fromFlag.xmppPort, 5402);
  assert.equal(load({ "user-domain": "Example.NET" }, { XMPP_MAILDIR_SECRET: "x" }, "/etc/xmd.toml").userDomain, "example.net");
});

test("the secret comes from a file, trailing newline removed", () => {
  assert.equal(load({ "secret-file": "/etc/secret" }, {}, "/etc/xmd.toml").secret, "s3cret");
});

test("each bad value names its key, its source and the fix", () => {
  const base = { domain: "archive.example.org", maildir: "/m/%d/%n" };
  assert.throws(() => load({ ...base, "xmpp-port": "http" }), configError("xmpp-port", /1 to 65535.*--xmpp-port/));
  assert.throws(() => load({ ...base, "log-level": "loud" }), configError("log-level", /one of/));
  assert.throws(() => load({ ...base, "state-dir": "rel/dir" }), configError("state-dir", /absolute/));
  assert.throws(() => load({ ...base, "max-stanza-bytes": "1k" }), configError("max-stanza-bytes", /bytes/));
  assert.throws(() => load({ ...base, domain: "bad domain" }), configError("domain", /domain name/));
  assert.throws(() => load({ domain: "archive.example.org" }), configError("maildir", /required.*--maildir/));
  assert.throws(() => load({ ...base, maildir: "relative/%n" }), configError("maildir", /absolute/));
  assert.throws(() => load({ ...base, domain: "archive" }), configError("user-domain", /--user-domain/));
  assert.throws(() => load(base, {}), configError("secret", /XMPP_MAILDIR_SECRET/));
  assert.throws(() => load({ ...base, "secret-file": "/nope" }, {}), configError("secret-file", /ENOENT/));
  assert.throws(() => load(base, { XMPP_MAILDIR_SECRET: "x", XMPP_MAILDIR_XMPP_PROT: "1" }), configError("XMPP_MAILDIR_XMPP_PROT", /unknown/));
});

test("the config file is checked: unknown keys, a secret in it, bad TOML, a missing file", () => {
  files["/etc/typo.toml"] = 'domian = "x"\n';
  files["/etc/secret.toml"] = 'secret = "x"\n';
  files["/etc/broken.toml"] = "domain = \n";
  assert.throws(() => load({}, undefined, "/etc/typo.toml"), configError("domian", /unknown key.*known keys/));
  assert.throws(() => load({}, undefined, "/etc/secret.toml"), configError("secret", /secret-file/));
  assert.throws(() => load({}, undefined, "/etc/broken.toml"), configError("config", /not valid TOML/));
  assert.throws(() => load({}, undefined, "/etc/missing.toml"), configError("config", /cannot read/));
});

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

test("the CLI exits 2 with one line naming the key for a bad config", () => {
  const result = spawnSync(process.execPath, [cli, "run", "--domain", "archive.example.org", "--maildir", "/m/%d/%n", "--xmpp-port", "0"], {
    env: { PATH: process.env.PATH, XMPP_MAILDIR_SECRET: "x" },
    encoding: "utf8",
  });
  assert.equal(result.status, 2);
  assert.equal(result.stderr.trim().split("\n").length, 1);
  assert.match(result.stderr, /^xmpp-maildir: xmpp-port: must be a whole number from 1 to 65535, got "0" \(from --xmpp-port\)/);
});

test("the CLI exits 2 with one line for a --deliver without a port", () => {
  const result = spawnSync(process.execPath, [cli, "run", "--domain", "archive.example.org", "--deliver", "lmtp://127.0.0.1", "--state-dir", "/tmp/x"], {
    env: { PATH: process.env.PATH, XMPP_MAILDIR_SECRET: "x" },
    encoding: "utf8",
  });
  assert.equal(result.status, 2);
  assert.equal(result.stderr.trim().split("\n").length, 1);
  assert.match(result.stderr, /^xmpp-maildir: deliver: has no port \(LMTP has no default port\); use lmtp:\/\/host:port, e\.g\. lmtp:\/\/127\.0\.0\.1:24, got "lmtp:\/\/127\.0\.0\.1" \(from --deliver\)/);
});

test("the CLI refuses unknown flags with exit 2 and lists every command in --help", () => {
  const bad = spawnSync(process.execPath, [cli, "run", "--secret", "x"], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option '--secret'/);
  const help = spawnSync(process.execPath, [cli, "--help"], { encoding: "utf8" });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^\s+run \[options\]/m);
});

test("examples/xmpp-maildir.toml is a valid config", () => {
  const example = fileURLToPath(new URL("../../../examples/xmpp-maildir.toml", import.meta.url));
  const config = loadRunConfig({
    flags: {},
    env: {},
    configFile: example,
    readFile: (p) => (p === "/etc/xmpp-maildir/secret" ? "from-file\n" : readFileSync(p, "utf8")),
  });
  assert.equal(config.domain, "archive.example.org");
  assert.equal(config.maildir, "/var/vmail/%d/%n/Maildir");
  assert.equal(config.secret, "from-file");
});
