// The LMTP proxy example is read by the integration tests in the syntax of the Dovecot under test;
// these keep its two versions saying the same thing, and the harness writing passdb fields where
// the proxy reads them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dovecotPasswdFile } from "../../harness/dovecot-config.js";
import { exampleConfig, lmtpExampleSettings, lmtpProxyFields } from "../../harness/dovecot-features.js";

const settings = (lines: string[]) => lines.map((l) => l.replace(/#.*/, "").trim()).filter(Boolean);

test("the LMTP proxy example sets the same for Dovecot 2.3 and 2.4: the backends' delimiter and lmtp_proxy", () => {
  for (const syntax of ["2.3", "2.4"] as const) {
    assert.deepEqual(settings(lmtpExampleSettings("dovecot-lmtp-proxy.conf", syntax)), ["recipient_delimiter = +", "protocol lmtp {", "lmtp_proxy = yes", "}"], syntax);
  }
  // The listener differs only in its address key (2.4: listen), and 2.4 lists its protocols.
  assert.ok(settings(exampleConfig("dovecot-lmtp-proxy.conf", "2.3")).includes("address = 10.0.0.5"));
  assert.ok(settings(exampleConfig("dovecot-lmtp-proxy.conf", "2.4")).includes("listen = 10.0.0.5"));
  assert.ok(settings(exampleConfig("dovecot-lmtp-proxy.conf", "2.4")).includes("protocols = imap lmtp"));
});

test("passdb fields go into the passwd-file's 8th column, after any userdb fields", () => {
  const line = dovecotPasswdFile([{ user: "alice@example.org", password: "pw", userdbFields: ["userdb_quota_rule=*:storage=1G"], passdbFields: lmtpProxyFields(2424) }]);
  assert.equal(line, "alice@example.org:{PLAIN}pw::::::userdb_quota_rule=*:storage=1G proxy host=127.0.0.1 port=2424\n");
  assert.equal(line.split(":").length, 9, "eight columns, the last one holding a ':' of its own");
});
