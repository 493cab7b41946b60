// What both rolling-upgrade suites (Prosody and ejabberd) send while module and component are
// swapped: numbered bodies that go round the recipients by their number, so the test knows whose
// INBOX each belongs in, and an XEP-0199 ping that tells when the server has handled them all.
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import type { ComponentProcess, LogLine } from "../../harness/component.js";
import { listMailbox, type ImapAccount } from "../../harness/imap.js";
import { DOMAIN } from "../../harness/stack.js";
import type { TestClient } from "../../harness/xmpp-client.js";

/** The last commit with only copy protocol v0 (the session that added v1 started there). */
export const OLD_COMMIT = "31723c0";
/** Who receives: body number i goes to USERS[i % USERS.length]. */
export const USERS = ["alice", "carol"];
/** Messages per burst (even, so a burst keeps the numbering round the users), and the pause between bursts. */
const BURST = 8;
const BURST_GAP_MS = 40;

export const connected = (l: LogLine) => l.msg === "connected to the XMPP server";
export const batchLines = (c: ComponentProcess) => c.logs.filter((l) => l.msg === "batch of copies");
export const bodies = (tag: string, count: number) => Array.from({ length: count }, (_, i) => `${tag}-${String(i).padStart(5, "0")}`);

/** Sends bodies in order, then an XEP-0199 ping: once it is answered, the server has handled them all. */
export async function sendAll(client: TestClient, list: string[], sent: string[]): Promise<void> {
  for (const [i, body] of list.entries()) {
    await client.sendMessage({ to: `${USERS[i % USERS.length]}@${DOMAIN}`, type: "chat", body });
    sent.push(body);
  }
  await client.client.iqCaller.request(xml("iq", { type: "get", to: DOMAIN }, xml("ping", { xmlns: "urn:xmpp:ping" })), 60_000);
}

/** Bursts of messages until stop() (which resolves once the server has handled every one). */
export function traffic(client: TestClient, tag: string, sent: string[]): { stop(): Promise<void> } {
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const burst = Array.from({ length: BURST }, () => `${tag}-${String(n++).padStart(5, "0")}`);
      await Promise.all(burst.map((body, i) => client.sendMessage({ to: `${USERS[i % USERS.length]}@${DOMAIN}`, type: "chat", body }).then(() => sent.push(body))));
      await new Promise((r) => setTimeout(r, BURST_GAP_MS));
    }
  })();
  // Awaited in stop(); a test that fails while traffic flows closes the client, and that
  // rejection must not hide the failure itself.
  loop.catch(() => undefined);
  return {
    async stop() {
      running = false;
      await loop;
      await sendAll(client, [], sent);
    },
  };
}

/** Every body sent is in its user's INBOX exactly once, by subject and by Message-ID (once the server's outbox is empty). */
export async function assertInboxesOnce(imap: (user: string) => ImapAccount, sent: string[]): Promise<void> {
  const expected = new Map(USERS.map((u) => [u, [] as string[]]));
  for (const body of sent) {
    const i = Number(body.slice(body.lastIndexOf("-") + 1));
    // Bursts (of an even size) and sendAll both go round the users by the body's number.
    expected.get(USERS[i % USERS.length]!)!.push(body);
  }
  const total = [...expected.values()].reduce((a, b) => a + b.length, 0);
  assert.equal(total, sent.length);
  for (const [user, want] of expected) {
    const mails = await listMailbox(imap(user));
    const subjects = mails.map((m) => m.subject ?? "");
    const dupes = subjects.filter((s, i) => subjects.indexOf(s) !== i);
    assert.deepEqual(dupes, [], `${user}: no message stored twice`);
    const ids = mails.map((m) => m.messageId ?? "");
    assert.equal(new Set(ids).size, ids.length, `${user}: no Message-ID twice`);
    const missing = want.filter((b) => !subjects.includes(b));
    assert.deepEqual(missing.slice(0, 10), [], `${user}: ${missing.length} of ${want.length} missing`);
    assert.equal(subjects.length, want.length, `${user}: exactly the messages sent`);
  }
}
