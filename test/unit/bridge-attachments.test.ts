// Mail attachments → XMPP (src/bridge/attachments): hostile names made safe, and the limits that
// keep anything from being uploaded past --max-upload-bytes or the service's own max-file-size.
// The upload service here is an in-process fake (an IQ function and an HTTP server on port 0);
// test/integration/mail-attachments.test.ts runs the same code against Prosody and ejabberd.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import xml, { type Element } from "@xmpp/xml";
import { attachmentMessage, createUploader, fetchReplyFiles, MAX_ATTACHMENTS, MAX_NAME_CHARS, replyText, safeFileName, uploadAttachments, wholeMailLimit, type IqRequest } from "../../src/bridge/attachments/index.js";
import { createFetcher, parseOrigins } from "../../src/fetch/index.js";
import { createLogger } from "../../src/log/index.js";

const logger = createLogger({ level: "silent" });

test("hostile attachment names: path separators, control and bidi characters, 300 characters", () => {
  assert.equal(safeFileName("../../etc/passwd"), "passwd");
  assert.equal(safeFileName("C:\\Users\\x\\evil.exe"), "evil.exe");
  assert.equal(safeFileName("a\r\nContent-Type: text\u0000.txt"), "aContent-Type text.txt");
  assert.equal(safeFileName("photo\u202Egpj.exe"), "photogpj.exe", "the right-to-left override is gone");
  assert.equal(safeFileName("..hidden"), "hidden", "no leading dots");
  assert.equal(safeFileName("   "), "attachment");
  assert.equal(safeFileName(undefined, "image/jpeg"), "attachment.jpg");
  assert.equal(safeFileName("../", "application/pdf"), "attachment.pdf");
  assert.equal(safeFileName("holiday photo.png"), "holiday photo.png", "an ordinary name is kept as it is");
  assert.equal(safeFileName("Überweisung März.pdf"), "Überweisung März.pdf");
  const long = safeFileName(`${"x".repeat(300)}.pdf`);
  assert.equal([...long].length, MAX_NAME_CHARS);
  assert.ok(long.endsWith("….pdf"), long);
  const emoji = safeFileName(`${"📷".repeat(300)}.jpg`);
  assert.ok([...emoji].length <= MAX_NAME_CHARS && emoji.endsWith(".jpg"), "counted in characters, never splitting a surrogate pair");
  assert.doesNotMatch(emoji, /[\uD800-\uDFFF](?![\uDC00-\uDFFF])/u);
  assert.equal([...safeFileName("y".repeat(300))].length, MAX_NAME_CHARS, "no extension: cut, still bounded");
});

interface FakeService {
  iq: IqRequest;
  iqs: Element[];
  puts: Array<{ url: string; type: string | undefined; bytes: Buffer }>;
  close(): Promise<void>;
}

/** A server domain with one upload component that offers slots on a local HTTP server. */
async function fakeService(options: { maxFileSize?: number; putStatus?: number } = {}): Promise<FakeService> {
  const puts: FakeService["puts"] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      puts.push({ url: req.url ?? "", type: req.headers["content-type"], bytes: Buffer.concat(chunks) });
      res.writeHead(options.putStatus ?? 201);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const iqs: Element[] = [];
  const iq: IqRequest = async (stanza) => {
    iqs.push(stanza);
    const query = stanza.getChild("query");
    if (stanza.attrs.to === "example.org" && query?.attrs.xmlns === "http://jabber.org/protocol/disco#items") {
      return xml("iq", { type: "result" }, xml("query", { xmlns: query.attrs.xmlns }, xml("item", { jid: "conference.example.org" }), xml("item", { jid: "upload.example.org" })));
    }
    if (query?.attrs.xmlns === "http://jabber.org/protocol/disco#info") {
      if (stanza.attrs.to !== "upload.example.org") return xml("iq", { type: "result" }, xml("query", { xmlns: query.attrs.xmlns }, xml("feature", { var: "http://jabber.org/protocol/muc" })));
      const form = options.maxFileSize === undefined ? null : xml("x", { xmlns: "jabber:x:data", type: "result" },
        xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, "urn:xmpp:http:upload:0")),
        xml("field", { var: "max-file-size" }, xml("value", {}, String(options.maxFileSize))));
      return xml("iq", { type: "result" }, xml("query", { xmlns: query.attrs.xmlns }, xml("feature", { var: "urn:xmpp:http:upload:0" }), form));
    }
    const request = stanza.getChild("request", "urn:xmpp:http:upload:0");
    if (request) {
      const path = `/slot${iqs.length}/${encodeURIComponent(String(request.attrs.filename))}`;
      return xml("iq", { type: "result" }, xml("slot", { xmlns: "urn:xmpp:http:upload:0" },
        xml("put", { url: `${origin}${path}` }, xml("header", { name: "Authorization" }, "Bearer t\r\nX-Evil: 1"), xml("header", { name: "X-Other" }, "dropped")),
        xml("get", { url: `${origin}/get${path}` })));
    }
    throw new Error(`unexpected IQ ${stanza.toString()}`);
  };
  return { iq, iqs, puts, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test("found by disco#items, uploaded with PUT; over --max-upload-bytes nothing is asked or sent", async () => {
  const service = await fakeService();
  try {
    const uploader = createUploader({ iq: service.iq, from: "archive.example.org", userDomain: "example.org", service: undefined, maxBytes: 1000, logger });
    const photo = Buffer.alloc(900, 7);
    const outcome = await uploadAttachments(
      [
        { filename: "../../photo.jpg", contentType: "image/jpeg", content: photo },
        { filename: "huge.bin", contentType: "application/octet-stream", content: Buffer.alloc(1001) },
        { filename: "x\u0000.pdf", contentType: "text/html\r\nX: y", content: Buffer.from("%PDF") },
      ],
      uploader,
    );
    assert.deepEqual(outcome.shared.map((f) => [f.name, f.type, f.size]), [["photo.jpg", "image/jpeg", 900], ["x.pdf", "application/octet-stream", 4]]);
    assert.ok(outcome.shared[0]!.url.includes("/get/slot"), outcome.shared[0]!.url);
    assert.deepEqual(outcome.lines, ["Attachment not shared: huge.bin (1001 bytes, over the 1000-byte limit (max-upload-bytes))"]);
    assert.equal(service.puts.length, 2, "the big file was never PUT");
    assert.deepEqual(service.puts[0]!.bytes, photo);
    assert.equal(service.puts[0]!.type, "image/jpeg");
    const requests = service.iqs.filter((i) => i.getChild("request"));
    assert.equal(requests.length, 2, "no slot asked for the big file");
    assert.ok(service.iqs.every((i) => i.attrs.from === "archive.example.org"), "every IQ is from the component");
    assert.equal(service.iqs.filter((i) => i.getChild("query")?.attrs.xmlns === "http://jabber.org/protocol/disco#items").length, 1, "discovered once, then remembered");
  } finally {
    await service.close();
  }
});

test("the service's own max-file-size is respected, a failed PUT says so, and too many files get a line", async () => {
  const small = await fakeService({ maxFileSize: 100 });
  try {
    const uploader = createUploader({ iq: small.iq, from: "archive.example.org", userDomain: "example.org", service: "upload.example.org", maxBytes: 1000, logger });
    const outcome = await uploadAttachments([{ filename: "a.png", contentType: "image/png", content: Buffer.alloc(200) }], uploader);
    assert.deepEqual(outcome.lines, ["Attachment not shared: a.png (200 bytes, over the upload service's 100-byte limit)"]);
    assert.equal(small.puts.length, 0);
    assert.equal(small.iqs.some((i) => i.getChild("query")?.attrs.xmlns === "http://jabber.org/protocol/disco#items"), false, "--upload-service: no disco#items");
  } finally {
    await small.close();
  }
  const failing = await fakeService({ putStatus: 413 });
  try {
    const uploader = createUploader({ iq: failing.iq, from: "archive.example.org", userDomain: "example.org", service: undefined, maxBytes: 1000, logger });
    const many = Array.from({ length: MAX_ATTACHMENTS + 1 }, (_, i) => ({ filename: `f${i}.txt`, contentType: "text/plain", content: Buffer.from("x") }));
    const outcome = await uploadAttachments(many, uploader);
    assert.equal(outcome.shared.length, 0);
    assert.equal(outcome.lines.filter((l) => l.endsWith("(the upload service answered 413 to the upload)")).length, MAX_ATTACHMENTS);
    assert.match(outcome.lines.at(-1)!, /^Attachment not shared: f8\.txt \(only the first 8 attachments/);
    assert.equal(failing.puts.length, MAX_ATTACHMENTS);
  } finally {
    await failing.close();
  }
});

test("a service whose access rules leave the component out: the line says so, and the log warns with the fix", async () => {
  const lines: Array<Record<string, unknown>> = [];
  const warnLogger = createLogger({ level: "info", destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  // xmpp.js rejects with a StanzaError: the condition and text of the service's <error/>.
  const service = await fakeService();
  await service.close();
  const refuse = (condition: string, text: string): IqRequest => async (stanza) => {
    if (stanza.getChild("request")) throw Object.assign(new Error(condition), { name: "StanzaError", condition, text });
    return service.iq(stanza);
  };
  const iq = refuse("forbidden", "Uploads not allowed");
  const uploader = createUploader({ iq, from: "archive.example.org", userDomain: "example.org", service: "upload.example.org", maxBytes: 1000, logger: warnLogger });
  const outcome = await uploadAttachments([{ filename: "a.png", contentType: "image/png", content: Buffer.alloc(10) }], uploader);
  assert.deepEqual(outcome.lines, ["Attachment not shared: a.png (the upload service upload.example.org refused a slot: forbidden (Uploads not allowed); the bridge may not upload there)"]);
  const warning = lines.find((l) => l.msg === "attachment not shared");
  assert.equal(warning?.level, 40, "a warning: only the admin can fix it");
  assert.match(String(warning?.fix), /http_file_share_access.*mod_http_upload.*docs\/attachments\.md/);
  // Any other refusal stays an info line without a fix: it is about this file, not the setup.
  lines.length = 0;
  const full = refuse("resource-constraint", "Quota exceeded");
  const quota = createUploader({ iq: full, from: "archive.example.org", userDomain: "example.org", service: "upload.example.org", maxBytes: 1000, logger: warnLogger });
  const refused = await uploadAttachments([{ filename: "b.png", contentType: "image/png", content: Buffer.alloc(10) }], quota);
  assert.deepEqual(refused.lines, ["Attachment not shared: b.png (the upload service upload.example.org refused a slot: resource-constraint (Quota exceeded))"]);
  assert.equal(lines.find((l) => l.msg === "attachment not shared")?.level, 30);
  assert.equal(lines.find((l) => l.msg === "attachment not shared")?.fix, undefined);
});

test("no upload service: each file gets a line, and a service that is not found is not asked again at once", async () => {
  const iqs: Element[] = [];
  const iq: IqRequest = async (stanza) => {
    iqs.push(stanza);
    return xml("iq", { type: "result" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#items" }));
  };
  const uploader = createUploader({ iq, from: "archive.example.org", userDomain: "example.org", service: undefined, maxBytes: 1000, logger });
  const files = [{ filename: "a.pdf", contentType: "application/pdf", content: Buffer.from("x") }];
  const first = await uploadAttachments(files, uploader);
  assert.deepEqual(first.lines, ["Attachment not shared: a.pdf (no upload service: no item of example.org offers urn:xmpp:http:upload:0; set --upload-service)"]);
  await uploadAttachments(files, uploader);
  assert.equal(iqs.length, 1);
  const none = await uploadAttachments(files, undefined);
  assert.deepEqual(none.lines, ["Attachment not shared: a.pdf (no upload service is set up for this bridge)"]);
  const cut = await uploadAttachments(files, uploader, { incomplete: "the mail is too large" });
  assert.deepEqual(cut.lines, ["Attachment not shared: a.pdf (the mail is too large)"]);
  assert.ok(wholeMailLimit(16 * 1024 * 1024) > (16 * 1024 * 1024 * 4) / 3, "room for one base64 file of the largest size");
});

test("a shared file is a message of its own whose body is the URL, with the same URL in jabber:x:oob", () => {
  const url = "https://upload.example.org/abc/photo.jpg";
  const m = attachmentMessage({ from: "carol\\40example.net@archive.example.org", to: "alice@example.org", type: "chat", id: "1", thread: "t", file: { name: "photo.jpg", type: "image/jpeg", size: 3, url } });
  assert.equal(m.getChildText("body"), url);
  assert.equal(m.getChild("x", "jabber:x:oob")?.getChildText("url"), url);
  assert.equal(m.attrs.type, "chat");
});

test("a reply's shared files: fetched within the allow-list and limits and attached; the rest named with why; a body that is only the URL is not repeated", async () => {
  const bytes = Buffer.alloc(500, 3);
  const server = http.createServer((req, res) => {
    if (req.url === "/slot/photo.png") {
      res.writeHead(200, { "content-type": "image/png" });
      res.end(bytes);
    } else if (req.url === "/slot/big.bin") {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(Buffer.alloc(2000));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const fetcher = createFetcher({ origins: parseOrigins(origin), maxBytes: 1000, timeoutMs: 5000 });
    const oob = (url: string) => xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, url));
    const photo = `${origin}/slot/photo.png`;
    const stanza = xml("message", { type: "chat" }, xml("body", {}, `${photo}`), oob(photo), oob(`${origin}/slot/big.bin`), oob("https://elsewhere.example/x/..%2F..%2Fsecret.pdf"), oob(`${origin}/slot/gone.txt`));
    const files = await fetchReplyFiles(stanza, fetcher, logger);
    assert.deepEqual(files.attachments.map((a) => [a.filename, a.contentType, a.content.length]), [["photo.png", "image/png", 500]]);
    assert.deepEqual(files.lines, [
      "Not attached: big.bin (too-big: more than the 500-byte limit sent)",
      "Not attached: secret.pdf (off-list: https://elsewhere.example is not in --upload-origins)",
      "Not attached: gone.txt (not-found: the server answered 404: the file is gone)",
    ]);
    assert.equal(replyText(photo, files), files.lines.join("\n"), "the URL alone is not repeated; the lines are the text");
    assert.equal(replyText(`look\n${photo}`, { attachments: [], lines: [], attachedUrls: new Set([photo]) }), "look");
    const off = await fetchReplyFiles(stanza, undefined, logger);
    assert.equal(off.attachments.length, 0);
    assert.equal(off.lines[0], "Not attached: photo.png (this bridge fetches no shared files (no --upload-origins))");
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
