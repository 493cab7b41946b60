// A reply with a shared file, through the real outbound code with a fake smarthost: the file is
// fetched (a local HTTP server on the allow-list) and attached; a smarthost that refuses the mail
// for its size (552, as Postfix over message_size_limit) still gets the text, naming the file left out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import xml from "@xmpp/xml";
import { simpleParser } from "mailparser";
import { createOutbound, openSendCounter, type SmtpSender } from "../../src/bridge/outbound/index.js";
import { SmtpError } from "../../src/errors.js";
import { createFetcher, parseOrigins } from "../../src/fetch/index.js";
import { createLogger } from "../../src/log/index.js";
import { compileTemplate, createMaildirWriter } from "../../src/maildir/index.js";

test("a shared file is attached to the reply; a 552 for its size sends the text alone, naming the file", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-reply-att-"));
  const photo = Buffer.alloc(700, 9);
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "image/jpeg" });
    res.end(photo);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sent: Buffer[] = [];
  let refuseBig = false;
  const smtp: SmtpSender = {
    async send({ raw }) {
      if (refuseBig && raw.length > 500) throw new SmtpError("552 5.3.4 Message size exceeds fixed limit", { responseCode: 552, transient: false });
      sent.push(raw);
      return { response: "250 ok" };
    },
    close: () => undefined,
  };
  try {
    const outbound = createOutbound({
      userDomain: "example.org",
      resolve: compileTemplate(path.join(dir, "%d", "%n", "Maildir")),
      writer: createMaildirWriter({ fsync: false }),
      smtp,
      counter: await openSendCounter(dir, { perMinute: 10, perDay: 10 }),
      maxStanzaBytes: 100_000,
      replyContext: () => undefined,
      logger: createLogger({ level: "silent" }),
      fetcher: createFetcher({ origins: parseOrigins(origin), maxBytes: 10_000, timeoutMs: 5000 }),
    });
    const url = `${origin}/abc/photo.jpg`;
    const stanza = () => xml("message", { from: "alice@example.org/phone", to: "carol\\40example.net@archive.example.org", type: "chat" }, xml("body", {}, url), xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, url)));
    await outbound.send(stanza(), "carol@example.net");
    const withFile = await simpleParser(sent[0]!);
    assert.deepEqual(withFile.attachments.map((a) => [a.filename, a.contentType, a.content.equals(photo)]), [["photo.jpg", "image/jpeg", true]]);
    assert.equal((withFile.text ?? "").trim(), "", "the body that was only the URL is not repeated");

    refuseBig = true;
    await outbound.send(stanza(), "carol@example.net");
    const textOnly = await simpleParser(sent[1]!);
    assert.equal(textOnly.attachments.length, 0);
    assert.match(textOnly.text ?? "", new RegExp(`^${url.replace(/[.]/g, "\\.")}\\n\\nNot attached: photo\\.jpg \\(the mail server refused the mail with it: 552 5\\.3\\.4 Message size exceeds fixed limit\\)`));
  } finally {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
});
