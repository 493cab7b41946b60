import { test } from "node:test";
import assert from "node:assert/strict";
import { compileTemplate } from "../../src/maildir/index.js";
import { BadAddressError, ConfigError } from "../../src/errors.js";

test("expands Dovecot's %u %n %d and %%", () => {
  const resolve = compileTemplate("/var/vmail/%d/%n/Maildir");
  assert.equal(resolve({ local: "alice", domain: "example.org" }), "/var/vmail/example.org/alice/Maildir");
  assert.equal(compileTemplate("/srv/%u/md")({ local: "bob", domain: "ex.net" }), "/srv/bob@ex.net/md");
  assert.equal(compileTemplate("/srv/100%%/%n")({ local: "bob", domain: "ex.net" }), "/srv/100%/bob");
  assert.equal(compileTemplate("/srv/mail-%n")({ local: "bob", domain: "ex.net" }), "/srv/mail-bob");
});

test("keeps non-ASCII and XEP-0106 escaped local parts as they are", () => {
  const resolve = compileTemplate("/m/%d/%n");
  assert.equal(resolve({ local: "jürgen", domain: "example.org" }), "/m/example.org/jürgen");
  assert.equal(resolve({ local: "d\\27artagnan", domain: "example.org" }), "/m/example.org/d\\27artagnan");
});

for (const [local, domain] of [
  ["..", "example.org"],
  [".", "example.org"],
  ["", "example.org"],
  ["a/b", "example.org"],
  ["alice", ".."],
  ["alice", "ex/../../etc"],
  ["nul\u0000", "example.org"],
  ["line\nbreak", "example.org"],
  ["tab\there", "example.org"],
  ["del\u007f", "example.org"],
  ["c1\u0085", "example.org"],
] as const) {
  test(`refuses the unsafe address ${JSON.stringify(`${local}@${domain}`)}`, () => {
    const resolve = compileTemplate("/var/vmail/%d/%n/Maildir");
    assert.throws(() => resolve({ local, domain }), BadAddressError);
  });
}

test("rejects templates that are relative, unknown or shared by all users", () => {
  assert.throws(() => compileTemplate("vmail/%d/%n"), (e: unknown) => e instanceof ConfigError && /absolute/.test(e.message));
  assert.throws(() => compileTemplate("/vmail/%x/%n"), (e: unknown) => e instanceof ConfigError && /%x/.test(e.message));
  assert.throws(() => compileTemplate("/vmail/%d/Maildir"), (e: unknown) => e instanceof ConfigError && /share/.test(e.message));
  assert.throws(() => compileTemplate("/vmail/%%n"), ConfigError);
});

test("expands Dovecot 2.4's %{user}, %{user | username} and %{user | domain}, with or without spaces", () => {
  const owner = { local: "alice", domain: "example.org" };
  assert.equal(compileTemplate("/var/vmail/%{user | domain}/%{user | username}/Maildir")(owner), "/var/vmail/example.org/alice/Maildir");
  assert.equal(compileTemplate("/var/vmail/%{user|domain}/%{user|username}/Maildir")(owner), "/var/vmail/example.org/alice/Maildir");
  assert.equal(compileTemplate("/var/vmail/%{ user  |  domain }/%{user| username}")(owner), "/var/vmail/example.org/alice");
  assert.equal(compileTemplate("/srv/%{user}/md")(owner), "/srv/alice@example.org/md");
  assert.equal(compileTemplate("/srv/100%%/%{user}/%n")(owner), "/srv/100%/alice@example.org/alice");
});

test("both syntaxes give the same path and the same root", async () => {
  const { templateRoot } = await import("../../src/maildir/index.js");
  const owner = { local: "bob", domain: "ex.net" };
  assert.equal(compileTemplate("/m/%d/%n/Maildir")(owner), compileTemplate("/m/%{user | domain}/%{user | username}/Maildir")(owner));
  assert.equal(templateRoot("/m/%{user | domain}/%{user | username}/Maildir"), "/m");
  assert.equal(templateRoot("/m/u-%{user}/Maildir"), "/m");
});

for (const [template, named] of [
  ["/vmail/%{user | lower}/%n", "%{user | lower}"],
  ["/vmail/%{home}/%n", "%{home}"],
  ["/vmail/%{user | domain/%n", "%{user | domain/%n"],
  ["/vmail/%{domain}/%{user | username}", "%{domain}"],
  ["/vmail/%n/%", "'%'"],
] as const) {
  test(`refuses ${template}, naming the variable and what is supported`, () => {
    assert.throws(
      () => compileTemplate(template),
      (e: unknown) => e instanceof ConfigError && e.message.includes(named) && /supported: .*%\{user \| username\}/.test(e.message),
    );
  });
}

test("a 2.4 template without the user refuses to share one Maildir", () => {
  assert.throws(() => compileTemplate("/vmail/%{user | domain}/Maildir"), (e: unknown) => e instanceof ConfigError && /share/.test(e.message));
});
