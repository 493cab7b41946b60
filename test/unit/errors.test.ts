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
