// The fetcher (src/fetch) against real HTTP servers on loopback port 0: what it fetches, and each
// way a stranger's link can go wrong (off the list, redirected off it, too big, endless, missing).
// The "other" server stands for a host that is not on the list: it must never see a request.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createFetcher, parseOrigins, type FetchResult } from "../../src/fetch/index.js";

const BYTES = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));

async function serve(handler: http.RequestListener): Promise<{ origin: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? "");
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function failure(result: FetchResult): { reason: string; detail: string } {
  assert.equal(result.ok, false, "not fetched");
  return result as { reason: string; detail: string };
}

test("fetcher: allowed origin, redirects on the list, and every refusal", async () => {
  const other = await serve((_req, res) => res.end("you should not be here"));
  let self = "";
  const main = await serve((req, res) => {
    const url = req.url ?? "";
    if (url === "/file/holiday%20photo.jpg") {
      res.writeHead(200, { "content-type": "image/jpeg; charset=binary", "content-length": BYTES.length });
      res.end(BYTES);
    } else if (url === "/in") {
      res.writeHead(302, { location: "/file/holiday%20photo.jpg" });
      res.end();
    } else if (url === "/out") {
      res.writeHead(301, { location: `${other.origin}/stolen` });
      res.end();
    } else if (url === "/loop") {
      res.writeHead(307, { location: `${self}/loop` });
      res.end();
    } else if (url === "/big") {
      res.writeHead(200, { "content-length": 1_000_000 });
      res.end(Buffer.alloc(1_000_000));
    } else if (url === "/endless") {
      // Chunked, no length: only the count stops it.
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const push = () => {
        if (res.destroyed) return;
        res.write(Buffer.alloc(16_384), () => setImmediate(push));
      };
      push();
    } else if (url === "/slow") {
      res.writeHead(200, { "content-length": 100 });
      res.write("a few bytes, then nothing");
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  self = main.origin;
  try {
    const fetcher = createFetcher({ origins: parseOrigins(`${main.origin}, https://share.example.org`), maxBytes: 64 * 1024, timeoutMs: 500 });
    const ok = await fetcher.fetch(`${main.origin}/file/holiday%20photo.jpg`);
    assert.ok(ok.ok);
    assert.deepEqual(ok.file.bytes, BYTES);
    assert.equal(ok.file.name, "holiday photo.jpg");
    assert.equal(ok.file.type, "image/jpeg");

    const redirected = await fetcher.fetch(`${main.origin}/in`);
    assert.ok(redirected.ok);
    assert.deepEqual(redirected.file.bytes, BYTES);
    assert.equal(redirected.file.url, `${main.origin}/in`);

    assert.equal(failure(await fetcher.fetch(`${other.origin}/x`)).reason, "off-list");
    assert.equal(failure(await fetcher.fetch(`${main.origin}/out`)).reason, "redirect-off-list");
    assert.equal(failure(await fetcher.fetch(`${main.origin}/loop`)).reason, "too-many-redirects");
    assert.deepEqual(other.hits, [], "the off-list server never got a request");

    const big = failure(await fetcher.fetch(`${main.origin}/big`));
    assert.equal(big.reason, "too-big");
    assert.match(big.detail, /1000000 bytes announced/);
    assert.equal(failure(await fetcher.fetch(`${main.origin}/endless`)).reason, "too-big");
    const started = performance.now();
    assert.equal(failure(await fetcher.fetch(`${main.origin}/slow`)).reason, "timeout");
    const took = performance.now() - started;
    assert.ok(took >= 450 && took < 2000, `the time bound held: ${took} ms`);
    assert.equal(failure(await fetcher.fetch(`${main.origin}/gone`)).reason, "not-found");
    // A smaller budget from the caller (what is left of a message's) wins over the policy's.
    assert.equal(failure(await fetcher.fetch(`${main.origin}/file/holiday%20photo.jpg`, { maxBytes: 100 })).reason, "too-big");

    assert.equal(failure(await fetcher.fetch("aesgcm://share.example.org/a/b.jpg#00112233")).reason, "scheme");
    assert.equal(failure(await fetcher.fetch("ftp://share.example.org/x")).reason, "scheme");
    assert.equal(failure(await fetcher.fetch(`http://user:pw@${main.origin.slice(7)}/file/x`)).reason, "bad-url");
    assert.equal(failure(await fetcher.fetch("not a url")).reason, "bad-url");
    // Same host, other scheme or port: another origin.
    assert.equal(failure(await fetcher.fetch("http://share.example.org/x")).reason, "off-list");
  } finally {
    await main.close();
    await other.close();
  }
});

test("origin lists: normalised, and bad entries named", () => {
  const list = parseOrigins(["HTTPS://Share.Example.org:443", "http://127.0.0.1:5280/"]);
  assert.deepEqual(list.origins, ["https://share.example.org", "http://127.0.0.1:5280"]);
  assert.ok(list.allows(new URL("https://share.example.org/a/b")));
  assert.ok(!list.allows(new URL("https://share.example.org:8443/a")));
  assert.deepEqual(parseOrigins("").origins, []);
  assert.throws(() => parseOrigins("share.example.org"), /not a URL|only http and https/);
  assert.throws(() => parseOrigins("https://share.example.org/upload"), /without a path/);
  assert.throws(() => parseOrigins("ftp://share.example.org"), /only http and https/);
  assert.throws(() => parseOrigins("https://u:p@share.example.org"), /user name or password/);
});
