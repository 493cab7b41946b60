// Shared files through capture, the archive's fetch step and render: what each client's share
// becomes (test/fixtures/clients/upload-*.xml), and the mail with the fetched file attached —
// multipart/mixed around the alternative, the stanza part intact for replay, the Message-ID the
// same as without the file (so dedupe holds), and a line per file that is not attached.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { simpleParser } from "mailparser";
import { pino } from "pino";
import { fetchShares } from "../../src/archive/uploads.js";
import { captureCopy, type ArchiveRecord } from "../../src/capture/index.js";
import { createFetcher, parseOrigins } from "../../src/fetch/index.js";
import { extractXmppPart, renderMail } from "../../src/mail/index.js";
import { noMetrics } from "../../src/metrics/index.js";
import { copyIq } from "../support/stanzas.js";

const FIXTURES = new URL("../../../test/fixtures/clients/", import.meta.url);
const CTX = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date("2026-05-06T07:08:09Z"), maxStanzaBytes: 1_048_576, chat: { history: false, groupchat: false, folder: "Chats", keywords: false } };

function fixture(name: string): string {
  const text = readFileSync(fileURLToPath(new URL(name, FIXTURES)), "utf8");
  assert.match(text, /^<!--[\s\S]+?-->/, `${name} names its source in a leading comment`);
  return text.replace(/^<!--[\s\S]*?-->\s*/, "").trim();
}

function capture(stanza: string): ArchiveRecord {
  const inner = stanza.replace(/^<message /, "<message xmlns='jabber:client' ");
  const result = captureCopy(copyIq({ inner, reason: "offline", from: "example.org" }), CTX);
  assert.equal(result.kind, "archive");
  return (result as { record: ArchiveRecord }).record;
}

test("each client's way of sharing a file is read with its URL and metadata", () => {
  const oob = capture(fixture("upload-conversations-oob.xml")).shares ?? [];
  assert.deepEqual(oob.map((s) => [s.via, s.url, s.name]), [["oob", "https://upload.example.org/file_share/7a9c2e1d-0b4f-4c8e-9f3a-1d2e3f4a5b6c/holiday.jpg", undefined]]);
  const sims = capture(fixture("upload-dino-sims.xml")).shares ?? [];
  assert.deepEqual(sims.map((s) => [s.via, s.url, s.name, s.mediaType, s.size]), [["sims", "https://upload.example.org/file_share/5b1e/notes.pdf", "notes.pdf", "application/pdf", 1234]]);
  // SFS with the OOB fallback: one file, with the SFS metadata.
  const sfs = capture(fixture("upload-xep0447-sfs.xml")).shares ?? [];
  assert.equal(sfs.length, 1);
  assert.equal(sfs[0]!.via, "sfs");
  assert.equal(sfs[0]!.name, "summit.jpg");
  assert.equal(sfs[0]!.size, 3032449);
  assert.equal(sfs[0]!.hashes["sha3-256"], "2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU=");
});

test("fetched files are attached; refused ones keep the link and a reason; Message-ID and stanza part unchanged", async () => {
  const photo = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
  const server = http.createServer((req, res) => {
    if (req.url === "/share/slot1/photo.png") res.writeHead(200, { "content-type": "image/png" }).end(photo);
    else if (req.url === "/share/slot2/doc.pdf") res.writeHead(200, { "content-type": "application/pdf" }).end("not what the hash says");
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const sha = createHash("sha256").update("the real document").digest("base64");
    const stanza =
      `<message from="bob@example.org/x" to="alice@example.org" type="chat" id="m1"><body>${origin}/share/slot1/photo.png</body>` +
      `<x xmlns="jabber:x:oob"><url>${origin}/share/slot1/photo.png</url></x>` +
      `<file-sharing xmlns="urn:xmpp:sfs:0"><file xmlns="urn:xmpp:file:metadata:0"><name>report.pdf</name><media-type>application/pdf</media-type>` +
      `<hash xmlns="urn:xmpp:hashes:2" algo="sha-256">${sha}</hash></file><sources><url-data xmlns="http://jabber.org/protocol/url-data" target="${origin}/share/slot2/doc.pdf"/></sources></file-sharing>` +
      `<x xmlns="jabber:x:oob"><url>${origin}/share/gone.txt</url></x>` +
      `<x xmlns="jabber:x:oob"><url>https://elsewhere.example.net/evil.exe</url></x>` +
      `<x xmlns="jabber:x:oob"><url>aesgcm://upload.example.org/a/b.jpg#0011</url></x></message>`;
    const record = capture(stanza);
    const counted: string[] = [];
    const metrics = { ...noMetrics, upload: (e: { result: string }) => counted.push(e.result) };
    const fetcher = createFetcher({ origins: parseOrigins(origin), maxBytes: 1 << 20, timeoutMs: 2000 });
    const withFiles = await fetchShares(record, { fetcher, logger: pino({ level: "silent" }), metrics });
    assert.deepEqual(counted, ["hash-mismatch", "attached", "not-found", "off-list", "scheme"], "SIMS/SFS first, then OOB links");

    const plain = await renderMail(record, { domain: "archive.example.org" });
    const mail = await renderMail(withFiles, { domain: "archive.example.org" });
    assert.equal(mail.messageId, plain.messageId, "attachments do not change the Message-ID");
    const parsed = await simpleParser(mail.bytes);
    assert.match(mail.bytes.toString("latin1"), /^Content-Type: multipart\/mixed;/m, "multipart/mixed at the top");
    assert.match(mail.bytes.toString("latin1"), /^Content-Type: multipart\/alternative;/m, "the alternative inside it");
    const png = parsed.attachments.find((a) => a.filename === "photo.png");
    assert.ok(png, "the photo is attached by name");
    assert.equal(png.contentType, "image/png");
    assert.equal(png.contentDisposition, "attachment");
    assert.equal(createHash("sha256").update(png.content).digest("hex"), createHash("sha256").update(photo).digest("hex"));
    assert.equal(parsed.attachments.filter((a) => a.contentType !== "application/xmpp+xml").length, 1, "nothing else attached");
    const text = parsed.text ?? "";
    assert.match(text, /Attached: photo\.png \(3000 bytes\)/);
    assert.match(text, new RegExp(`Not attached: ${origin}/share/slot2/doc\\.pdf \\(what the server sent does not match`));
    assert.match(text, /Not attached: .*\/share\/gone\.txt \(the upload service no longer has it/);
    assert.match(text, /Not attached: https:\/\/elsewhere\.example\.net\/evil\.exe \(its server is not one of the upload services/);
    assert.match(text, /Not attached: aesgcm:\/\/upload\.example\.org\/a\/b\.jpg#0011 \(only http and https/);
    // Replay's reader still finds the stanza, byte for byte.
    const part = extractXmppPart(mail.bytes);
    assert.equal(part.kind, "found");
    assert.equal(part.kind === "found" ? part.stanzaXml : "", record.xml);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test("encrypted messages and messages without shares are left alone", async () => {
  const fetcher = createFetcher({ origins: parseOrigins("https://upload.example.org"), maxBytes: 1 << 20, timeoutMs: 1000 });
  const record = capture(fixture("conversations-omemo.xml"));
  const deps = { fetcher, logger: pino({ level: "silent" }), metrics: noMetrics };
  assert.equal(await fetchShares(record, deps), record);
  const plain = capture(`<message from="bob@example.org/x" to="alice@example.org" type="chat" id="m2"><body>hi</body></message>`);
  assert.equal(plain.shares, undefined);
  assert.equal(await fetchShares(plain, deps), plain);
});

test("--upload-origins: off by default, parsed from a flag or a TOML array, a bad entry names the key", async () => {
  const { loadRunConfig } = await import("../../src/config/index.js");
  const { ConfigError } = await import("../../src/errors.js");
  const env = { XMPP_MAILDIR_SECRET: "x" };
  const base = { domain: "archive.example.org", maildir: "/var/vmail/%d/%n/Maildir" };
  assert.equal(loadRunConfig({ flags: base, env }).uploads, undefined);
  const on = loadRunConfig({ flags: { ...base, "upload-origins": "https://share.example.org, http://127.0.0.1:5280" }, env }).uploads;
  assert.deepEqual(on?.origins.origins, ["https://share.example.org", "http://127.0.0.1:5280"]);
  assert.equal(on?.maxBytes, 16 * 1024 * 1024);
  const toml = 'upload-origins = ["https://share.example.org"]\nmax-upload-bytes = 1048576\n';
  const fromFile = loadRunConfig({ flags: base, env, configFile: "/c.toml", readFile: () => toml }).uploads;
  assert.deepEqual(fromFile?.origins.origins, ["https://share.example.org"]);
  assert.equal(fromFile?.maxBytes, 1_048_576);
  assert.throws(
    () => loadRunConfig({ flags: { ...base, "upload-origins": "https://share.example.org/upload" }, env }),
    (err: unknown) => err instanceof ConfigError && err.key === "upload-origins" && /without a path.*--upload-origins/.test(err.message),
  );
  assert.throws(
    () => loadRunConfig({ flags: { ...base, "upload-origins": "share.example.org" }, env }),
    (err: unknown) => err instanceof ConfigError && err.key === "upload-origins",
  );
});
