// The NDJSON stream target: lines in delivery order, written in batches rather than one write per
// line, and a full output stream (a slow reader) holding up delivery instead of filling memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { captureCopy, type ArchiveRecord } from "../../src/capture/index.js";
import { createStreamTarget, type Output, type SourceEntry } from "../../src/replay/index.js";
import { copyIq } from "../support/stanzas.js";

const ctx = { componentDomain: "archive.example.org", userDomain: "example.org", now: new Date(), maxStanzaBytes: 1 << 20 };
const entry: SourceEntry = { key: "k", time: undefined, tiebreak: 0, folder: "INBOX", owner: undefined, location: "/m", load: () => Promise.reject(new Error("not used")) };

function record(body: string): ArchiveRecord {
  const result = captureCopy(copyIq({ inner: `<message xmlns='jabber:client' from='bob@example.net/r' to='alice@example.org' type='chat' id='x'><body>${body}</body></message>` }), ctx);
  if (result.kind !== "archive") throw new Error("not archived");
  return result.record;
}

class FakeOutput extends EventEmitter implements Output {
  readonly writes: string[] = [];
  full = false;
  write(chunk: string): boolean {
    this.writes.push(chunk);
    return !this.full;
  }
  lines(): string[] {
    return this.writes.join("").split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { body: string }).body);
  }
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

test("lines delivered in one turn go out as one write, in order; close writes what is left", async () => {
  const output = new FakeOutput();
  const target = createStreamTarget({ format: "ndjson", output, domain: undefined });
  const bodies = Array.from({ length: 50 }, (_, i) => `line ${i}`);
  for (const body of bodies) await target.deliver(record(body), entry);
  assert.equal(output.writes.length, 0, "nothing written within the turn");
  await nextTurn();
  assert.equal(output.writes.length, 1);
  assert.deepEqual(output.lines(), bodies);
  await target.deliver(record("last"), entry);
  await target.close();
  assert.deepEqual(output.lines(), [...bodies, "last"]);
});

test("a full output holds up the next delivery until it drains; a big batch is written at once", async () => {
  const output = new FakeOutput();
  const target = createStreamTarget({ format: "ndjson", output, domain: undefined });
  output.full = true;
  const big = "x".repeat(70 * 1024);
  await target.deliver(record(big), entry);
  assert.equal(output.writes.length, 1, "over the batch size: written without waiting for the turn");
  let delivered = false;
  const next = target.deliver(record("after"), entry).then(() => (delivered = true));
  await nextTurn();
  await nextTurn();
  assert.equal(delivered, false, "waits for drain");
  output.full = false;
  output.emit("drain");
  await next;
  await target.close();
  assert.deepEqual(output.lines(), [big, "after"]);
});
