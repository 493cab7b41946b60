// Copy protocol v1 (urn:xmpp-maildir:copy:1): batches of copies against an in-process XEP-0114
// server. What the component answers for good and bad batches, and what lands on disk.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Element } from "@xmpp/xml";
import { parseStanza as parse } from "../support/stanzas.js";
import { MAX_BATCH_BYTES, splitBatch } from "../../src/archive/batch.js";
import { RefusedError } from "../../src/errors.js";
import { COMPONENT as DOMAIN, startArchiverHarness, type ArchiverHarness } from "../support/archiver-harness.js";
import type { FakeServer } from "../support/fake-server.js";

const NS_V0 = "urn:xmpp-maildir:copy:0";
const NS_V1 = "urn:xmpp-maildir:copy:1";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

const chat = (to: string, body: string) => `<message xmlns='jabber:client' from='bob@example.net/r' to='${to}' type='chat' id='${body}'><body>${body}</body></message>`;
const forwarded = (inner: string) => `<forwarded xmlns='urn:xmpp:forward:0'>${inner}</forwarded>`;

/** A <copy/> of a batch; `id: undefined` leaves the id out. */
function item(id: string | undefined, inner: string, reason = "offline"): string {
  return `<copy${id === undefined ? "" : ` id='${id}'`} reason='${reason}'>${forwarded(inner)}</copy>`;
}
function batch(id: string, items: string[], from = "example.org"): string {
  return `<iq type='set' id='${id}' from='${from}' to='${DOMAIN}'><copies xmlns='${NS_V1}'>${items.join("")}</copies></iq>`;
}
function single(id: string, inner: string): string {
  return `<iq type='set' id='${id}' from='example.org' to='${DOMAIN}'><copy xmlns='${NS_V0}' reason='offline'>${forwarded(inner)}</copy></iq>`;
}

/** The result's answer per copy id: "ok", or the error's type/condition. */
function answers(reply: Element): Map<string, string> {
  assert.equal(reply.attrs.type, "result", reply.toString());
  const copies = reply.getChild("copies", NS_V1);
  assert.ok(copies, "the result carries <copies/>");
  const out = new Map<string, string>();
  for (const c of copies.getChildElements()) {
    assert.equal(c.name, "copy");
    const id = String(c.attrs.id);
    assert.ok(!out.has(id), `copy ${id} answered once`);
    const error = c.getChild("error");
    const condition = error?.getChildElements().find((e) => e.attrs.xmlns === NS_STANZAS && e.name !== "text")?.name;
    out.set(id, error ? `${error.attrs.type}/${condition}` : "ok");
  }
  return out;
}

function iqError(reply: Element): string {
  assert.equal(reply.attrs.type, "error", reply.toString());
  const error = reply.getChild("error");
  const condition = error?.getChildElements().find((e) => e.attrs.xmlns === NS_STANZAS && e.name !== "text")?.name;
  return `${error?.attrs.type}/${condition}`;
}

describe("batches of copies (urn:xmpp-maildir:copy:1)", () => {
  let harness: ArchiverHarness;
  let server: FakeServer;
  let dir: string;
  const newFiles = async (user: string) => readdir(path.join(dir, "example.org", user, "new")).catch(() => []);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "xmd-batch-"));
    harness = await startArchiverHarness({ dir, secret: "s", flags: { maildir: path.join(dir, "%d", "%n") } });
    server = harness.server;
  });

  after(async () => {
    await harness.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("disco#info on the component's domain lists both versions", async () => {
    server.send(`<iq type='get' id='q1' from='example.org' to='${DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    const reply = await server.waitFor((el) => el.attrs.id === "q1");
    assert.equal(reply.attrs.type, "result");
    const vars = reply.getChild("query")!.getChildren("feature").map((f) => f.attrs.var);
    assert.ok(vars.includes(NS_V0) && vars.includes(NS_V1), vars.join(" "));
  });

  test("a batch is stored and every copy is confirmed in one result", async () => {
    server.send(batch("b1", [item("a1", chat("alice@example.org", "one")), item("a2", chat("alice@example.org", "two")), item("a3", chat("anna@example.org", "three"))]));
    const reply = await server.waitFor((el) => el.attrs.id === "b1");
    assert.deepEqual([...answers(reply)].sort(), [["a1", "ok"], ["a2", "ok"], ["a3", "ok"]]);
    assert.equal(reply.attrs.to, "example.org");
    assert.equal((await newFiles("alice")).length, 2);
    assert.equal((await newFiles("anna")).length, 1);
  });

  test("refusals inside a batch are per copy; the others are stored", async () => {
    server.send(batch("b2", [
      item("m1", chat("mixed@example.org", "kept")),
      item("m2", chat("mallory@example.net", "not ours")),
      item("m3", chat("mixed@example.org", "no reason"), "bogus"),
      item("m4", chat("al ice@example.org", "space")),
    ]));
    const got = answers(await server.waitFor((el) => el.attrs.id === "b2"));
    assert.equal(got.get("m1"), "ok");
    assert.equal(got.get("m2"), "cancel/not-allowed");
    assert.equal(got.get("m3"), "modify/bad-request");
    assert.equal(got.get("m4"), "modify/jid-malformed");
    assert.equal(got.size, 4);
    assert.equal((await newFiles("mixed")).length, 1);
    assert.ok(harness.logs.some((l) => l.msg === "refused" && l.id === "m2"), "a warn line per refused copy, with its id");
  });

  test("a copy without an id refuses the whole batch with bad-request, and nothing is stored", async () => {
    server.send(batch("b3", [item("n1", chat("noid@example.org", "fine")), item(undefined, chat("noid@example.org", "anonymous"))]));
    const reply = await server.waitFor((el) => el.attrs.id === "b3");
    assert.equal(iqError(reply), "modify/bad-request");
    assert.match(reply.getChild("error")!.getChildText("text", NS_STANZAS) ?? "", /no id/);
    // Only the emptied <copies/> is echoed back, never the batch.
    assert.equal(reply.getChild("copies", NS_V1)?.children.length ?? 0, 0);
    assert.equal((await newFiles("noid")).length, 0);
  });

  test("duplicate ids in one batch, an empty batch and more than 64 copies are bad requests", async () => {
    server.send(batch("b4", [item("d1", chat("dup@example.org", "x")), item("d1", chat("dup@example.org", "y"))]));
    const dup = await server.waitFor((el) => el.attrs.id === "b4");
    assert.equal(iqError(dup), "modify/bad-request");
    assert.match(dup.getChild("error")!.getChildText("text", NS_STANZAS) ?? "", /twice/);
    server.send(batch("b5", []));
    assert.equal(iqError(await server.waitFor((el) => el.attrs.id === "b5")), "modify/bad-request");
    const many = Array.from({ length: 65 }, (_, i) => item(`big${i}`, chat("many@example.org", `m${i}`)));
    server.send(batch("b6", many));
    const big = await server.waitFor((el) => el.attrs.id === "b6");
    assert.equal(iqError(big), "modify/bad-request");
    assert.match(big.getChild("error")!.getChildText("text", NS_STANZAS) ?? "", /65 copies; at most 64/);
    assert.equal((await newFiles("dup")).length + (await newFiles("many")).length, 0);
    // 64 is allowed.
    server.send(batch("b7", many.slice(0, 64)));
    const full = answers(await server.waitFor((el) => el.attrs.id === "b7", 20_000));
    assert.equal([...full.values()].filter((v) => v === "ok").length, 64);
    assert.equal((await newFiles("many")).length, 64);
  });

  test("a batch from anyone but the users' domain is refused whole with not-allowed", async () => {
    server.send(batch("b8", [item("f1", chat("forged@example.org", "x"))], "bob@example.org/r"));
    assert.equal(iqError(await server.waitFor((el) => el.attrs.id === "b8")), "cancel/not-allowed");
    assert.equal((await newFiles("forged")).length, 0);
  });

  test("a copy sent singly (v0) and again in a batch (v1), or the other way round, is stored once", async () => {
    server.send(single("x1", chat("once@example.org", "first v0")));
    assert.equal((await server.waitFor((el) => el.attrs.id === "x1")).attrs.type, "result");
    server.send(batch("b9", [item("x1", chat("once@example.org", "first v0")), item("x2", chat("once@example.org", "then v1"))]));
    assert.deepEqual([...answers(await server.waitFor((el) => el.attrs.id === "b9"))].sort(), [["x1", "ok"], ["x2", "ok"]]);
    server.send(single("x2", chat("once@example.org", "then v1")));
    assert.equal((await server.waitFor((el) => el.attrs.id === "x2")).attrs.type, "result");
    assert.equal((await newFiles("once")).length, 2);
    assert.ok(harness.logs.filter((l) => l.msg === "duplicate copy, already stored").length >= 2);
  });
});

describe("the byte cap of a batch (splitBatch)", () => {
  const copies = (n: number, bytes: number) => parse(batch("c1", Array.from({ length: n }, (_, i) => item(`c${i}`, chat("cap@example.org", `c${i}${"x".repeat(bytes)}`)))));

  test("is 32 MiB of copies", () => {
    assert.equal(MAX_BATCH_BYTES, 32 * 1024 * 1024);
  });

  test("a batch over it is refused whole with modify/policy-violation and a text that says why", () => {
    assert.throws(
      () => splitBatch(copies(4, 3000), "example.org", 10_000),
      (err: unknown) =>
        err instanceof RefusedError && err.stanzaError.type === "modify" && err.stanzaError.condition === "policy-violation" && /more than 10000 bytes of copies; send fewer copies per batch/.test(err.message),
    );
  });

  test("a batch under it is split into its copies", () => {
    // The test's chats repeat the body as the message id: about 6 kB per copy.
    assert.equal(splitBatch(copies(3, 3000), "example.org", 30_000).length, 3);
  });

  test("counts UTF-8 bytes of text and attributes, not characters", () => {
    // 3 copies of 1,000 "€" in the body and again in the id: 18,000 bytes, 6,000 characters.
    const euros = parse(batch("c2", [0, 1, 2].map((i) => item(`e${i}`, chat("cap@example.org", "€".repeat(1000))))));
    assert.throws(() => splitBatch(euros, "example.org", 12_000), RefusedError);
    assert.equal(splitBatch(euros, "example.org", 24_000).length, 3);
  });
});
