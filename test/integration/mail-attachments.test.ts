// Attachments both ways (README, "Mail to XMPP and back"), end to end, once per XMPP server:
//   Carol, in a real Delta Chat core, sends alice@ a photo and a PDF through the real Postfix
//   (SMTP AUTH through Dovecot) into the real Dovecot; the real component uploads each file to
//   the server's own XEP-0363 service (Prosody mod_http_file_share, ejabberd mod_http_upload, with
//   the access rules docs/attachments.md gives) and pushes it as a jabber:x:oob URL; the bytes
//   behind each URL (HTTP GET) are the bytes Delta Chat sent.
//   Alice answers with a photo she uploads herself; Carol's Delta Chat shows it attached, same bytes.
//   Hostile and malformed mail (submitted to Postfix as raw MIME): sanitised names, nothing
//   uploaded past --max-upload-bytes, a line naming each file not shared, no crash.
// Carol's profile watches her own INBOX, never alice's (whose mail the component pushes).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { deflateSync, crc32 } from "node:zlib";
import nodemailer from "nodemailer";
import type { T } from "@deltachat/jsonrpc-client";
import { xml } from "@xmpp/client";
import type { ComponentProcess } from "../../harness/component.js";
import { startDeltaChatClient, type DeltaChatClient, type DeltaChatProfile } from "../../harness/deltachat.js";
import { onServers } from "../../harness/generation.js";
import { shareUrl, uploadFile } from "../../harness/http-upload.js";
import { startPostfix, type PostfixServer } from "../../harness/mta.js";
import { freePort } from "../../harness/ports.js";
import { COMPONENT, DOMAIN, SERVER_KINDS, startStack, type AnyStack, type ServerKind } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type Element, type TestClient } from "../../harness/xmpp-client.js";
import { subscribeToComponent } from "../support/bridge-mail.js";

const SERVER_NAMES: Record<ServerKind, string> = { prosody: "Prosody (mod_http_file_share)", ejabberd: "ejabberd (mod_http_upload)" };
/** --max-upload-bytes here: small, so the "huge" attachment is small too. */
const MAX_UPLOAD_BYTES = 200_000;
const CAROL = `carol@${DOMAIN}`;
const CAROL_JID = `carol\\40${DOMAIN}@${COMPONENT}`;
const NS_OOB = "jabber:x:oob";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A real PNG (so Delta Chat takes it as an image): w×h random RGB pixels, unfiltered rows. */
function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.concat(Array.from({ length: height }, () => Buffer.concat([Buffer.from([0]), randomBytes(width * 3)])));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", header), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

/** A minimal PDF; its bytes only have to survive unchanged. */
function pdf(): Buffer {
  return Buffer.from(`%PDF-1.4\n% ${randomBytes(16).toString("hex")}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n`, "latin1");
}

const isFile = (s: Element) => s.is("message") && s.getChild("x", NS_OOB) !== undefined && s.getChildText("body") === s.getChild("x", NS_OOB)?.getChildText("url");

async function get(url: string): Promise<Buffer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200, `GET ${url}`);
  return Buffer.from(await res.arrayBuffer());
}

for (const kind of SERVER_KINDS) {
  describe(onServers(`mail attachments and shared files both ways through ${SERVER_NAMES[kind]}`), () => {
    let dir: string;
    let stack: AnyStack;
    let postfix: PostfixServer;
    let component: ComponentProcess;
    let alice: TestClient;
    let dc: DeltaChatClient;
    let carol: DeltaChatProfile;
    let carolChat: number;
    let smtp: ReturnType<typeof nodemailer.createTransport>;

    before(async () => {
      dir = await makeTempDir("xmd-attach-");
      stack = await startStack({ dir, users: ["alice", "carol"], server: kind, upload: { componentMayUpload: true }, dovecot: { lmtp: true, smtpAuth: true } });
      postfix = await startPostfix({ dir: path.join(dir, "postfix"), lmtpPort: stack.dovecot.lmtpPort!, relayDomains: [DOMAIN], saslPath: stack.dovecot.authSocketPath });
      component = stack.component({
        args: [
          "--watch", "fs", "--push-port", String(await freePort()), "--imap-url", `imap://127.0.0.1:${stack.dovecot.imapPort}`,
          "--smtp-url", `smtp://127.0.0.1:${postfix.smtpPort}`, "--upload-origins", stack.upload!.origin, "--max-upload-bytes", String(MAX_UPLOAD_BYTES),
        ],
      });
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
      alice = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "alice", password: stack.password });
      await subscribeToComponent(alice, component);
      dc = startDeltaChatClient(path.join(dir, "deltachat"));
      carol = await dc.addProfile({ addr: CAROL, password: stack.password, imapPort: stack.dovecot.imapPort, smtpPort: postfix.smtpPort, imapFolder: "INBOX" });
      const contact = await dc.rpc.createContact(carol.accountId, `alice@${DOMAIN}`, null);
      carolChat = await dc.rpc.createChatByContactId(carol.accountId, contact);
      smtp = nodemailer.createTransport({ host: "127.0.0.1", port: postfix.smtpPort, secure: false, ignoreTLS: true });
    });

    after(async () => {
      smtp?.close();
      await alice?.stop().catch(() => undefined);
      await dc?.stop();
      const code = await component?.stop("SIGTERM");
      await postfix?.stop();
      await stack?.stop();
      await removeDir(dir);
      assert.equal(code, 0, `component exits 0 on SIGTERM; stderr: ${component?.stderr()}`);
    });

    test("Delta Chat sends a photo and a PDF: alice gets each as an OOB URL whose bytes are the file's", async () => {
      const files = path.join(dir, "carol-files");
      await mkdir(files, { recursive: true });
      const photoPath = path.join(files, "holiday.png");
      const pdfPath = path.join(files, "booking.pdf");
      await writeFile(photoPath, png(64, 48));
      await writeFile(pdfPath, pdf());
      const photoId = await dc.rpc.sendMsg(carol.accountId, carolChat, { text: "our holiday", html: null, viewtype: "Image", file: photoPath, filename: "holiday.png", location: null, overrideSenderName: null, quotedMessageId: null, quotedText: null });
      const pdfId = await dc.rpc.sendMsg(carol.accountId, carolChat, { text: "the booking", html: null, viewtype: "File", file: pdfPath, filename: "booking.pdf", location: null, overrideSenderName: null, quotedMessageId: null, quotedText: null });
      // What Delta Chat really sent (it may recode an image): the blob its message points at.
      const sent = async (id: number) => {
        const m: T.Message = await dc.rpc.getMessage(carol.accountId, id);
        assert.ok(m.file, `message ${id} has a file`);
        return { bytes: await readFile(m.file), name: m.fileName };
      };
      const photo = await sent(photoId);
      const booking = await sent(pdfId);

      const text1 = await alice.waitForStanza((s) => s.is("message") && s.attrs.from === CAROL_JID && s.getChildText("body") === "our holiday", 30_000);
      assert.equal(text1.attrs.type, "chat");
      await alice.waitForStanza((s) => s.is("message") && s.attrs.from === CAROL_JID && s.getChildText("body") === "the booking", 30_000);
      const fileMessages = () => alice.received.filter((s) => s.attrs.from === CAROL_JID && isFile(s));
      await alice.waitForStanza((s) => s.attrs.from === CAROL_JID && isFile(s) && fileMessages().length >= 2, 30_000);
      const urls = fileMessages().map((s) => s.getChildText("body")!);
      assert.equal(urls.length, 2, `one file message per attachment: ${urls.join(", ")}`);
      for (const s of fileMessages()) assert.equal(s.attrs.type, "chat", "the file is in the same chat as the text");
      const got = await Promise.all(urls.map(get));
      assert.deepEqual(got.map(sha256).sort(), [sha256(photo.bytes), sha256(booking.bytes)].sort(), "the bytes behind the URLs are the files Delta Chat sent");
      assert.ok(urls.every((u) => u.startsWith(`${stack.upload!.origin}/`)), "uploaded to the server's own service");
      assert.ok(urls.some((u) => /booking\.pdf$/.test(decodeURIComponent(u))), urls.join(", "));
      assert.equal(component.logs.filter((l) => l.msg === "attachment shared").length, 2);
    });

    test("alice answers with a photo she uploads: Carol's Delta Chat shows it attached, same bytes, in the same chat", async () => {
      const bytes = png(40, 30);
      const url = await uploadFile(alice, stack.upload!.service, { name: "reply photo.png", type: "image/png", bytes });
      await shareUrl(alice, CAROL_JID, url);
      const seen = await carol.waitForMessages((ms) => ms.some((m) => m.chatId === carolChat && m.fromId !== 1 && m.file !== null), "alice's photo, attached");
      const m = seen.find((x) => x.chatId === carolChat && x.fromId !== 1 && x.file !== null)!;
      assert.equal(sha256(await readFile(m.file!)), sha256(bytes), "the attached bytes are the uploaded bytes");
      assert.ok(!m.text.includes(url), `the body that was only the URL is not repeated as text: ${JSON.stringify(m.text)}`);

      // A file off the list still lets the text through, with a line saying why.
      await alice.sendMessage({ to: CAROL_JID, type: "chat", body: "and this one?", extra: xmlOob("http://127.0.0.1:9/elsewhere/secret.pdf") });
      const later = await carol.waitForMessages((ms) => ms.some((x) => x.text.startsWith("and this one?")), "the text whose file is off the list");
      const line = later.find((x) => x.text.startsWith("and this one?"))!;
      assert.match(line.text, /Not attached: secret\.pdf \(off-list: http:\/\/127\.0\.0\.1:9 is not in --upload-origins\)/);
      assert.equal(line.file, null);
    });

    test("hostile names, a huge attachment and malformed MIME: pushed (or logged), sanitised, nothing over the limit uploaded", async () => {
      const small = randomBytes(1000);
      const big = randomBytes(MAX_UPLOAD_BYTES + 1);
      const longName = `${"n".repeat(300)}.txt`;
      await smtp.sendMail({
        envelope: { from: `mallory@${DOMAIN}`, to: [`alice@${DOMAIN}`] },
        from: `Mallory <mallory@${DOMAIN}>`,
        to: `alice@${DOMAIN}`,
        subject: "files for you",
        text: "see attached",
        attachments: [
          { filename: "../../etc/pass\r\nwd\u0007\u202Egpj.exe", content: small, contentType: "application/octet-stream" },
          { filename: longName, content: small, contentType: "text/plain" },
          { filename: "huge.bin", content: big, contentType: "application/octet-stream" },
        ],
      });
      const text = await alice.waitForStanza((s) => s.is("message") && s.getChildText("subject") === "files for you", 30_000);
      const body = text.getChildText("body") ?? "";
      assert.match(body, /see attached/);
      assert.ok(body.includes(`Attachment not shared: huge.bin (${MAX_UPLOAD_BYTES + 1} bytes, over the ${MAX_UPLOAD_BYTES}-byte limit (max-upload-bytes))`), body);
      const mallory = String(text.attrs.from);
      const files = async () => {
        await alice.waitForStanza((s) => s.attrs.from === mallory && isFile(s) && alice.received.filter((x) => x.attrs.from === mallory && isFile(x)).length >= 2, 30_000);
        return alice.received.filter((x) => x.attrs.from === mallory && isFile(x));
      };
      const shared = await files();
      assert.equal(shared.length, 2, "the two small files, not the huge one");
      const names = shared.map((s) => s.getChild("x", NS_OOB)!.getChildText("desc")!);
      for (const name of names) {
        assert.doesNotMatch(name, /[/\\\p{Cc}\p{Cf}]/u, `sanitised: ${JSON.stringify(name)}`);
        assert.ok([...name].length <= 100, `bounded: ${name.length}`);
      }
      assert.ok(names.includes("passwdgpj.exe"), JSON.stringify(names));
      for (const s of shared) assert.equal(sha256(await get(s.getChildText("body")!)), sha256(small));
      assert.equal(component.logs.some((l) => l.msg === "attachment shared" && Number(l.bytes) > MAX_UPLOAD_BYTES), false, "nothing over the limit uploaded");

      // Malformed MIME: a multipart whose boundary never closes, with broken base64 in its part.
      const raw = [
        `From: mallory@${DOMAIN}`, `To: alice@${DOMAIN}`, "Subject: broken mime", `Message-ID: <broken-${randomBytes(4).toString("hex")}@${DOMAIN}>`,
        `Date: ${new Date().toUTCString()}`, "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b1"', "",
        "--b1", "Content-Type: text/plain", "", "still readable", "--b1",
        'Content-Type: application/pdf; name="x.pdf"', "Content-Transfer-Encoding: base64", 'Content-Disposition: attachment; filename="x.pdf"', "",
        "JVBERi0x!!!not base64***", "",
      ].join("\r\n");
      await smtp.sendMail({ envelope: { from: `mallory@${DOMAIN}`, to: [`alice@${DOMAIN}`] }, raw });
      const outcome = await Promise.race([
        alice.waitForStanza((s) => s.is("message") && s.getChildText("subject") === "broken mime", 30_000).then((s) => ({ pushed: s })),
        component.waitForLog((l) => l.msg === "could not push new mail", 30_000).then((l) => ({ logged: l })),
      ]);
      if ("pushed" in outcome) assert.match(outcome.pushed.getChildText("body") ?? "", /still readable/);
      else assert.ok(outcome.logged.err, "logged as not pushed, with the reason");
      // And the bridge still works afterwards.
      await smtp.sendMail({ envelope: { from: `mallory@${DOMAIN}`, to: [`alice@${DOMAIN}`] }, from: `mallory@${DOMAIN}`, to: `alice@${DOMAIN}`, subject: "after the broken one", text: "ok" });
      await alice.waitForStanza((s) => s.is("message") && s.getChildText("subject") === "after the broken one", 30_000);
      assert.deepEqual(await stack.serverErrors(), []);
    });
  });
}

function xmlOob(url: string): Element {
  return xml("x", { xmlns: NS_OOB }, xml("url", {}, url));
}

// The admin forgot the access rule docs/attachments.md gives: the upload service refuses the
// component's slot requests (Prosody: http_file_share_access lists only the users' domain; ejabberd:
// the packaged `local` rule). Nothing is lost: the text arrives with a line naming the file and why,
// the component warns with the fix, and the users themselves still upload.
for (const kind of SERVER_KINDS) {
  describe(onServers(`mail attachments when ${SERVER_NAMES[kind]} does not let the component upload`), () => {
    let dir: string;
    let stack: AnyStack;
    let postfix: PostfixServer;
    let component: ComponentProcess;
    let alice: TestClient;

    before(async () => {
      dir = await makeTempDir("xmd-attach-denied-");
      stack = await startStack({ dir, users: ["alice"], server: kind, upload: { usersOnly: true }, dovecot: { lmtp: true, smtpAuth: true } });
      postfix = await startPostfix({ dir: path.join(dir, "postfix"), lmtpPort: stack.dovecot.lmtpPort!, relayDomains: [DOMAIN], saslPath: stack.dovecot.authSocketPath });
      component = stack.component({
        args: ["--watch", "fs", "--push-port", String(await freePort()), "--imap-url", `imap://127.0.0.1:${stack.dovecot.imapPort}`, "--max-upload-bytes", String(MAX_UPLOAD_BYTES)],
      });
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
      alice = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "alice", password: stack.password });
      await subscribeToComponent(alice, component);
    });

    after(async () => {
      await alice?.stop().catch(() => undefined);
      const code = await component?.stop("SIGTERM");
      await postfix?.stop();
      await stack?.stop();
      await removeDir(dir);
      assert.equal(code, 0, `component exits 0 on SIGTERM; stderr: ${component?.stderr()}`);
    });

    test("the text arrives with a line naming the file and the refusal; the component warns with the fix; users still upload", async () => {
      const smtp = nodemailer.createTransport({ host: "127.0.0.1", port: postfix.smtpPort, secure: false, ignoreTLS: true });
      try {
        await smtp.sendMail({
          envelope: { from: CAROL, to: [`alice@${DOMAIN}`] },
          from: `Carol <${CAROL}>`,
          to: `alice@${DOMAIN}`,
          subject: "the plan",
          text: "plan attached",
          attachments: [{ filename: "plan.png", content: png(8, 8), contentType: "image/png" }],
        });
      } finally {
        smtp.close();
      }
      const text = await alice.waitForStanza((s) => s.is("message") && s.getChildText("subject") === "the plan", 30_000);
      const body = text.getChildText("body") ?? "";
      assert.match(body, /plan attached/);
      assert.match(body, new RegExp(`Attachment not shared: plan\\.png \\(the upload service upload\\.${DOMAIN.replace(/\./g, "\\.")} refused a slot: [a-z-]+.*; the bridge may not upload there\\)`), body);
      const warning = component.logs.find((l) => l.msg === "attachment not shared");
      assert.equal(warning?.level, 40, `a warning: ${JSON.stringify(warning)}`);
      assert.match(String(warning?.fix), /docs\/attachments\.md/);
      assert.equal(component.logs.some((l) => l.msg === "attachment shared"), false);
      assert.equal(alice.received.some((s) => isFile(s)), false, "no file message without an upload");
      // The rule keeps users' uploads working: it only leaves the component out.
      const url = await uploadFile(alice, stack.upload!.service, { name: "mine.png", type: "image/png", bytes: png(4, 4) });
      assert.ok(url.startsWith(`${stack.upload!.origin}/`), url);
    });
  });
}
