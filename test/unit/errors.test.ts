import { test } from "node:test";
import assert from "node:assert/strict";
import * as errors from "../../src/errors.js";

test("every error code in the catalogue is unique and every error class uses one", () => {
  const codes = Object.values(errors.ErrorCodes);
  assert.equal(new Set(codes).size, codes.length);
  const samples = [
    new errors.ConfigError("k", "m"),
    new errors.RefusedError("m", { type: "cancel", condition: "bad-request" }),
    new errors.BadAddressError("m"),
    new errors.StorageError("/p", Object.assign(new Error("full"), { code: "ENOSPC" })),
    new errors.XmppAuthError("m"),
    new errors.SmtpError("550 no", { responseCode: 550, transient: false }),
    new errors.MalformedError("/p", "m"),
    new errors.ReplayError("m", "service-unavailable"),
    new errors.LmtpError("lmtp://127.0.0.1:24", "452 4.2.2 full", { responseCode: 452, transient: true, reason: "452 4.2.2" }),
    new errors.ListenError("metrics", "127.0.0.1:9", Object.assign(new Error("odd"), { code: "EINVAL" })),
  ];
  for (const err of samples) {
    assert.ok(codes.includes(err.code), `${err.name} has code ${err.code}`);
    assert.equal(err.name, err.constructor.name);
  }
});

test("disk conditions an admin can fix are transient; others are not", () => {
  const mk = (code: string) => new errors.StorageError("/p", Object.assign(new Error(code), { code }));
  for (const code of ["ENOSPC", "EDQUOT", "EACCES", "EROFS"]) assert.equal(mk(code).transient, true, code);
  assert.equal(mk("ENAMETOOLONG").transient, false);
});

test("the catalogue is complete: every error class exported from src/errors.ts has a sample above, and every code a class", () => {
  const values: unknown[] = Object.values(errors);
  const classes = values.filter((v): v is { name: string; prototype: unknown } => typeof v === "function" && v.prototype instanceof errors.XmppMaildirError);
  assert.deepEqual(classes.map((c) => c.name).sort(), ["BadAddressError", "ConfigError", "ListenError", "LmtpError", "MalformedError", "RefusedError", "ReplayError", "SmtpError", "StorageError", "XmppAuthError"]);
  assert.deepEqual(Object.keys(errors.ErrorCodes).sort(), ["BAD_ADDRESS", "CONFIG", "LISTEN", "LMTP", "MALFORMED", "REFUSED", "REPLAY", "SMTP", "STORAGE", "XMPP_AUTH"]);
});

test("a StorageError wrapping another keeps its reason (a Dovecot lock timeout stays EAGAIN, transient)", () => {
  const lock = new errors.StorageError("/m/dovecot-uidlist.lock", new Error("timed out waiting"), { reason: "EAGAIN" });
  const outer = new errors.StorageError("/m", lock);
  assert.equal(outer.reason, "EAGAIN");
  assert.equal(outer.transient, true);
  assert.match(outer.message, /^cannot store into \/m: EAGAIN \(timed out waiting\)$/);
});
