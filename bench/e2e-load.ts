// The load of bench/e2e.ts: K real c2s clients sending chats to offline users, as fast as
// Prosody takes them, never further ahead than a few dozen unanswered messages each.
import { xml } from "@xmpp/client";
import { mapLimit } from "../src/replay/limit.js";
import { DOMAIN } from "../harness/stack.js";
import { connectClient, type TestClient } from "../harness/xmpp-client.js";

/**
 * Plain c2s has no acknowledgements, so each client sends BATCH messages and then an XEP-0199
 * ping: Prosody handles a session's stanzas in order, so the answer means it has handled the
 * batch (stored offline, copy queued). At most BATCHES_IN_FLIGHT batches unanswered, i.e. 64
 * messages per client: the clients cannot run ahead into their socket buffers.
 */
const BATCH = 16;
const BATCHES_IN_FLIGHT = 4;
/** A ping waits behind at most 64 messages per client; minutes means something is stuck. */
const PING_TIMEOUT_MS = 120_000;
/** prosodyctl takes ~0.1 s per account; a few at once, the machine has 2 cores. */
const REGISTER_CONCURRENCY = 4;

export interface Plan {
  /** Serialised <message/>s per client, built before the clock starts. */
  readonly perClient: string[][];
  /** Recipient → the tokens (first body line, also the stanza id) of what was sent to them. */
  readonly expected: Map<string, string[]>;
}

/** Bodies of 0.2–4 kB, a third with non-ASCII text (as bench/throughput.ts); the first line is the token. */
function body(token: string, i: number): string {
  const unit = i % 3 === 0 ? "Grüße aus Köln ☕ " : "see you at eight, ok? ";
  return `${token}\n${unit.repeat(Math.max(1, Math.round((200 + ((i * 7919) % 3800)) / unit.length)))}`;
}

/** Message i goes from client i % clients to recipient i % recipients.length. */
export function plan(tag: string, count: number, clients: number, recipients: readonly string[]): Plan {
  const perClient: string[][] = Array.from({ length: clients }, () => []);
  const expected = new Map(recipients.map((r) => [r, [] as string[]]));
  for (let i = 0; i < count; i++) {
    const to = recipients[i % recipients.length]!;
    const token = `${tag}-${String(i).padStart(6, "0")}`;
    perClient[i % clients]!.push(xml("message", { to: `${to}@${DOMAIN}`, type: "chat", id: token }, xml("body", {}, body(token, i))).toString());
    expected.get(to)!.push(token);
  }
  return { perClient, expected };
}

/** Sends every stanza, pinging after each batch; resolves when Prosody has answered the last ping. */
export async function drive(client: TestClient, stanzas: readonly string[]): Promise<void> {
  const unanswered: Promise<unknown>[] = [];
  for (let at = 0; at < stanzas.length; at += BATCH) {
    await client.client.write(stanzas.slice(at, at + BATCH).join(""));
    const answer = client.client.iqCaller.request(xml("iq", { type: "get", to: DOMAIN }, xml("ping", { xmlns: "urn:xmpp:ping" })), PING_TIMEOUT_MS);
    // Awaited below, in order; until then a rejection must not count as unhandled.
    answer.catch(() => undefined);
    unanswered.push(answer);
    if (unanswered.length >= BATCHES_IN_FLIGHT) await unanswered.shift();
  }
  await Promise.all(unanswered);
}

/** Registers every account (a few prosodyctl/ejabberdctl runs at once), then logs the senders in. */
/** What connectSenders needs of either server (Prosody's or ejabberd's harness). */
export interface LoadTarget {
  readonly c2sPort: number;
  addUser(user: { username: string; password: string }): Promise<void>;
}

export async function connectSenders(prosody: LoadTarget, password: string, senders: readonly string[], recipients: readonly string[]): Promise<TestClient[]> {
  await mapLimit([...senders, ...recipients], REGISTER_CONCURRENCY, (username) => prosody.addUser({ username, password }));
  const clients: TestClient[] = [];
  try {
    for (const username of senders) clients.push(await connectClient({ port: prosody.c2sPort, domain: DOMAIN, username, password }));
    return clients;
  } catch (err) {
    await Promise.all(clients.map((c) => c.stop()));
    throw err;
  }
}
