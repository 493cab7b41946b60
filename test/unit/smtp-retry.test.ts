// 4xx answers are retried with backoff before the user hears of them; 5xx is final at once.
// The retry loop is exercised against a minimal in-process SMTP responder on port 0 (RFC 5321
// §4.2 replies only); delivery through a real Postfix is covered by test/integration/reply.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { SmtpError } from "../../src/errors.js";
import { createLogger } from "../../src/log/index.js";
import { createSmtpSender } from "../../src/bridge/outbound/index.js";
import { errorSpecFor } from "../../src/xmpp/stanza-error.js";

/** Answers RCPT TO with the next code from `rcptCodes` (one per connection), everything else with success. */
async function smtpResponder(rcptCodes: number[]): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    const rcpt = rcptCodes[Math.min(connections, rcptCodes.length - 1)]!;
    connections += 1;
    let inData = false;
    let buffer = "";
    socket.write("220 test ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffer += chunk.toString("latin1");
      let nl;
      while ((nl = buffer.indexOf("\r\n")) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            socket.write("250 2.0.0 queued\r\n");
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") socket.write("250 test\r\n");
        else if (verb === "MAIL") socket.write("250 2.1.0 ok\r\n");
        else if (verb === "RCPT") socket.write(rcpt < 300 ? "250 2.1.5 ok\r\n" : `${rcpt} ${rcpt >= 500 ? "5.7.1 no such user here" : "4.7.1 try again later"}\r\n`);
        else if (verb === "DATA") {
          inData = true;
          socket.write("354 go ahead\r\n");
        } else if (verb === "RSET" || verb === "NOOP") socket.write("250 ok\r\n");
        else if (verb === "QUIT") socket.end("221 bye\r\n");
        else socket.write("502 5.5.2 not implemented\r\n");
      }
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const mail = { envelope: { from: "alice@example.org", to: ["carol@example.net"] }, raw: Buffer.from("From: alice@example.org\r\nTo: carol@example.net\r\nSubject: hi\r\n\r\nhello\r\n") };
const logger = createLogger({ level: "silent" });

test("a 4xx is retried and the mail goes out once the server accepts it", async () => {
  const smtp = await smtpResponder([451, 451, 250]);
  const sender = createSmtpSender({ url: `smtp://127.0.0.1:${smtp.port}`, logger, retryDelaysMs: [20, 40, 80] });
  try {
    const info = await sender.send(mail);
    assert.match(info.response, /^250/);
    assert.equal(smtp.connections(), 3, "two temporary failures, then success");
  } finally {
    sender.close();
    await smtp.close();
  }
});

test("a 4xx that persists is reported after the retries, as a wait error with the server's reason", async () => {
  const smtp = await smtpResponder([450]);
  const sender = createSmtpSender({ url: `smtp://127.0.0.1:${smtp.port}`, logger, retryDelaysMs: [20, 20] });
  try {
    const err = await sender.send(mail).then(() => assert.fail("should not be sent"), (e: unknown) => e);
    assert.ok(err instanceof SmtpError && err.transient && err.responseCode === 450);
    assert.equal(smtp.connections(), 3, "first try plus two retries");
    const spec = errorSpecFor(err);
    assert.equal(spec.type, "wait");
    assert.match(spec.text, /try again later/);
  } finally {
    sender.close();
    await smtp.close();
  }
});

test("a 5xx is final at once: no retry, a cancel error with the reason", async () => {
  const smtp = await smtpResponder([550]);
  const sender = createSmtpSender({ url: `smtp://127.0.0.1:${smtp.port}`, logger, retryDelaysMs: [20, 20] });
  try {
    const err = await sender.send(mail).then(() => assert.fail("should not be sent"), (e: unknown) => e);
    assert.ok(err instanceof SmtpError && !err.transient && err.responseCode === 550);
    assert.equal(smtp.connections(), 1);
    const spec = errorSpecFor(err);
    assert.equal(spec.type, "cancel");
    assert.match(spec.text, /no such user here/);
  } finally {
    sender.close();
    await smtp.close();
  }
});
