// Shared files end to end (README, "Shared files"): a real client asks the server's own XEP-0363
// service for a slot (Prosody's bundled mod_http_file_share, ejabberd's mod_http_upload), uploads
// with HTTP PUT and shares the URL with jabber:x:oob to an offline user; the real component fetches
// it and the mail, read back over IMAP from a real Dovecot, carries the same bytes. Then each bad
// case: too big, gone (404), off the list, redirected off the list, endless. A tiny HTTP server in
// the test plays the stranger's side (redirects, a body that never ends); the "elsewhere" server
// stands for a host not on the list and must never see a request. Every copy is stored.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { type ComponentProcess } from "../../harness/component.js";
import { onServers } from "../../harness/generation.js";
import { shareUrl, uploadFile } from "../../harness/http-upload.js";
import { waitForMessages, type ListedMessage } from "../../harness/imap.js";
import { freePort } from "../../harness/ports.js";
import { DOMAIN, SERVER_KINDS, startStack, type AnyStack, type ServerKind } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient } from "../../harness/xmpp-client.js";
import { sample } from "../support/prometheus.js";

const SERVER_NAMES: Record<ServerKind, string> = { prosody: "Prosody (mod_http_file_share)", ejabberd: "ejabberd (mod_http_upload)" };
/** The component's --max-upload-bytes here: small, so the "too big" file is small too. */
const MAX_UPLOAD_BYTES = 4096;
/** app.ts UPLOAD_TIMEOUT_MS: the endless body must be cut off at this, not later. */
const FETCH_DEADLINE_MS = 10_000;

interface TestServer {
  readonly origin: string;
  readonly hits: string[];
  close(): Promise<void>;
}

async function serve(handler: http.RequestListener): Promise<TestServer> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? "");
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

for (const kind of SERVER_KINDS) {
  describe(onServers(`shared files through ${SERVER_NAMES[kind]}, fetched into the mail`), () => {
    let dir: string;
    let stack: AnyStack;
    let component: ComponentProcess;
    let elsewhere: TestServer;
    let stranger: TestServer;
    let metricsPort: number;
    let mails = 0;
    const client = (username: string) => connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username, password: stack.password });

    /** The next mail in bob's INBOX, parsed, once it is there. */
    async function nextMail(timeoutMs = 20_000): Promise<{ listed: ListedMessage; parsed: ParsedMail }> {
      mails += 1;
      const all = await waitForMessages({ ...stack.imap("bob"), count: mails, timeoutMs });
      assert.equal(all.length, mails, "one mail per shared message, none lost or doubled");
      const listed = all[mails - 1]!;
      return { listed, parsed: await simpleParser(listed.source) };
    }

    async function metric(result: string): Promise<number> {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return sample(text, "xmpp_maildir_upload_fetches_total", { result }) ?? 0;
    }

    before(async () => {
      dir = await makeTempDir("xmd-uploads-");
      elsewhere = await serve((_req, res) => res.end("never fetched"));
      stranger = await serve((req, res) => {
        if (req.url?.startsWith("/redirect")) {
          res.writeHead(302, { location: `${elsewhere.origin}/stolen.bin` });
          res.end();
        } else if (req.url === "/endless.bin") {
          // A trickle that never ends and never reaches the size limit: only the deadline stops it.
          res.writeHead(200, { "content-type": "application/octet-stream" });
          const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write("x")), 200);
        } else {
          res.writeHead(404);
          res.end();
        }
      });
      stack = await startStack({ dir, users: ["alice", "bob"], server: kind, upload: {} });
      assert.ok(stack.upload, "the upload service is configured");
      metricsPort = await freePort();
      component = stack.component({
        args: ["--upload-origins", `${stack.upload.origin},${stranger.origin}`, "--max-upload-bytes", String(MAX_UPLOAD_BYTES), "--metrics-port", String(metricsPort)],
      });
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    });

    after(async () => {
      const code = await component?.stop("SIGTERM");
      await stack?.stop();
      await stranger?.close();
      await elsewhere?.close();
      await removeDir(dir);
      assert.equal(code, 0, `component exits 0 on SIGTERM; stderr: ${component?.stderr()}`);
    });

    test("a file uploaded with XEP-0363 and shared by OOB is in the mail, byte for byte, read over IMAP", async () => {
      const alice = await client("alice");
      try {
        const bytes = randomBytes(3000);
        const url = await uploadFile(alice, stack.upload!.service, { name: "holiday photo.png", type: "image/png", bytes });
        assert.ok(url.startsWith(`${stack.upload!.origin}/`), `the slot URL ${url} is on the upload origin`);
        await shareUrl(alice, `bob@${DOMAIN}`, url);
        const { listed, parsed } = await nextMail();
        const file = parsed.attachments.find((a) => a.contentType !== "application/xmpp+xml");
        assert.ok(file, `an attachment; text: ${parsed.text}`);
        assert.equal(sha256(file.content), sha256(bytes), "the attached bytes are the uploaded bytes");
        // The name from the URL: Prosody keeps the space (percent-encoded), ejabberd 24 makes it "_".
        const name = decodeURIComponent(new URL(url).pathname.split("/").at(-1) ?? "");
        if (kind === "prosody") assert.equal(name, "holiday photo.png");
        assert.match(name, /^holiday[ _]photo\.png$/);
        assert.equal(file.filename, name);
        assert.equal(file.contentType, "image/png");
        assert.match(listed.source.toString("latin1"), /^Content-Type: multipart\/mixed;/m);
        assert.ok((parsed.text ?? "").includes(`Attached: ${name} (3000 bytes), shared as ${url}`), parsed.text);
        const stanza = parsed.attachments.find((a) => a.contentType === "application/xmpp+xml");
        assert.ok(stanza?.content.toString("utf8").includes("jabber:x:oob"), "the stanza part is kept for replay");
        assert.equal(await metric("attached"), 1);
      } finally {
        await alice.stop();
      }
    });

    test("too big, gone, off the list, redirected off it, endless: each mail keeps the link and says why", async () => {
      const alice = await client("alice");
      const bob = `bob@${DOMAIN}`;
      try {
        const cases: Array<{ url: string; line: RegExp; result: string }> = [];
        // A real upload, over --max-upload-bytes: refused on its Content-Length.
        const big = await uploadFile(alice, stack.upload!.service, { name: "big.bin", type: "application/octet-stream", bytes: randomBytes(MAX_UPLOAD_BYTES + 2000) });
        cases.push({ url: big, line: /larger than this archive keeps: 6096 bytes announced, over the 4096-byte limit/, result: "too-big" });
        // The real upload service, a slot that does not exist (deleted, or expired).
        // Prosody: /file_share/<slot uuid>/<name>; ejabberd: /upload/<user hash>/<random>/<name>.
        const gone = big.replace(/\/[^/]+\/big\.bin$/, `/${randomUUID()}/gone.bin`);
        cases.push({ url: gone, line: /the upload service no longer has it: the server answered 404/, result: "not-found" });
        cases.push({ url: `${elsewhere.origin}/file.bin`, line: /its server is not one of the upload services this archive fetches from/, result: "off-list" });
        cases.push({ url: `${stranger.origin}/redirect/file.bin`, line: /redirected to http:\/\/127\.0\.0\.1:\d+, which is not in --upload-origins/, result: "redirect-off-list" });
        for (const c of cases) {
          await shareUrl(alice, bob, c.url);
          const { parsed } = await nextMail();
          const text = parsed.text ?? "";
          assert.ok(text.includes(`Not attached: ${c.url} (`), `the link and why, for ${c.result}: ${text}`);
          assert.match(text, c.line);
          assert.equal(parsed.attachments.filter((a) => a.contentType !== "application/xmpp+xml").length, 0);
          assert.equal(await metric(c.result), 1, `counted as ${c.result}`);
        }
        // Endless: the mail is stored once the deadline cuts the fetch off, not later.
        const started = performance.now();
        await shareUrl(alice, bob, `${stranger.origin}/endless.bin`);
        const { parsed } = await nextMail(FETCH_DEADLINE_MS + 20_000);
        const took = performance.now() - started;
        assert.match(parsed.text ?? "", /Not attached: http:\/\/127\.0\.0\.1:\d+\/endless\.bin \(it did not arrive in time: not complete within 10000 ms\)/);
        assert.ok(took >= FETCH_DEADLINE_MS - 500 && took < FETCH_DEADLINE_MS + 8_000, `stored after the 10 s bound, not much later: ${Math.round(took)} ms`);
        assert.equal(await metric("timeout"), 1);
        assert.deepEqual(elsewhere.hits, [], "nothing off the list was ever requested");
        assert.deepEqual(await stack.serverErrors(), []);
        assert.equal(component.logs.filter((l) => l.msg === "refused").length, 0, "no copy refused");
      } finally {
        await alice.stop();
      }
    });
  });
}
