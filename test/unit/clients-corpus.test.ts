// The client corpus (test/fixtures/clients/): replies (XEP-0461), moderation (XEP-0425),
// corrections, retractions, markers, file shares and reactions as Conversations, Cheogram, Dino,
// Gajim, Monal, Kaidan, Movim and Prosody's rooms send them, through capture and a real Maildir
// sink on disk (the message index included), and what the mail looks like. The encrypted fixtures
// have their own file (encrypted.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { simpleParser, type ParsedMail } from "mailparser";
import { captureCopy, type ArchiveRecord, type CaptureReason, type CaptureResult } from "../../src/capture/index.js";
import { createMaildirSink } from "../../src/delivery/index.js";
import { createLogger } from "../../src/log/index.js";
import { parseStanzaXml } from "../../src/mail/index.js";
import { createMaildirWriter } from "../../src/maildir/index.js";
import { copyIq } from "../support/stanzas.js";

const FIXTURES = new URL("../../../test/fixtures/clients/", import.meta.url);
const DOMAIN = "archive.example.org";
const CHAT = { history: true, groupchat: true, folder: "Chats", keywords: true, maxAttachmentBytes: 262_144 };

/** The fixture's stanza, without its leading source comment. Every fixture names its source. */
function fixture(name: string): string {
  const text = readFileSync(fileURLToPath(new URL(name, FIXTURES)), "utf8");
  assert.match(text, /^<!--[\s\S]+?(Source|XEP-\d{4}|Built for the corpus)[\s\S]*?-->/, `${name} names its source in a leading comment`);
  return text.replace(/^<!--[\s\S]*?-->\s*/, "").trim();
}

/** A copy of the fixture from the server module, for the given reason (offline, chat, sent, groupchat). */
function capture(name: string, reason: CaptureReason = "chat", stanza = fixture(name)): CaptureResult {
  const inner = stanza.replace(/^<message /, "<message xmlns='jabber:client' ");
  const ctx = { componentDomain: DOMAIN, userDomain: "example.org", now: new Date("2026-05-06T07:08:09Z"), maxStanzaBytes: 1_048_576, chat: CHAT };
  return captureCopy(copyIq({ inner, reason, from: "example.org" }), ctx);
}

function archived(result: CaptureResult): ArchiveRecord {
  assert.equal(result.kind, "archive", `archived, got ${JSON.stringify(result)}`);
  return (result as { record: ArchiveRecord }).record;
}

interface Archive {
  store(name: string, reason?: CaptureReason): Promise<{ messageId: string; mail: ParsedMail; record: ArchiveRecord }>;
  storeRecord(record: ArchiveRecord): Promise<ParsedMail>;
  /** The stored mail with this Message-ID in a user's Maildir. */
  find(user: string, messageId: string): Promise<ParsedMail>;
  /** A new sink on the same Maildirs: an empty message index, as after a restart. */
  restart(): void;
  readonly debug: Array<Record<string, unknown>>;
}

/** A real Maildir sink in a temp dir, with the chat settings the component uses with --chat-history --groupchat. */
async function withArchive(fn: (archive: Archive) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-clients-"));
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: "debug", destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  const make = () =>
    createMaildirSink({
      resolveMaildir: (owner) => path.join(dir, owner.local, "Maildir"),
      writer: createMaildirWriter({ fsync: false }),
      logger,
      mail: { domain: DOMAIN, chat: CHAT },
    });
  let sink = make();
  try {
    await fn({
      async store(name, reason = "chat") {
        const record = archived(capture(name, reason));
        const outcome = await sink.store(record, { arrivedAt: Date.now() });
        assert.equal(outcome.status, "stored", name);
        const maildir = path.join(dir, record.owner.local, "Maildir");
        return { messageId: outcome.messageId, mail: await findMail(maildir, outcome.messageId), record };
      },
      async storeRecord(record) {
        const outcome = await sink.store(record, { arrivedAt: Date.now() });
        return findMail(path.join(dir, record.owner.local, "Maildir"), outcome.messageId);
      },
      find: (user, messageId) => findMail(path.join(dir, user, "Maildir"), messageId),
      restart: () => {
        sink = make();
      },
      debug: lines,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function findMail(maildir: string, messageId: string): Promise<ParsedMail> {
  const dirs = [maildir, ...(await readdir(maildir)).filter((n) => n.startsWith(".")).map((n) => path.join(maildir, n))];
  for (const d of dirs) {
    for (const sub of ["new", "cur"]) {
      for (const file of await readdir(path.join(d, sub)).catch(() => [] as string[])) {
        const parsed = await simpleParser(await readFile(path.join(d, sub, file)));
        if (parsed.messageId === messageId) return parsed;
      }
    }
  }
  throw new Error(`no mail ${messageId} under ${maildir}`);
}

const count = (text: string, needle: string) => text.split(needle).length - 1;
const stanzaPart = (mail: ParsedMail) => mail.attachments.find((a) => a.contentType === "application/xmpp+xml")?.content.toString("utf8") ?? "";
const refs = (mail: ParsedMail) => [mail.references ?? []].flat();

// ---- Replies (XEP-0461) ----

test("dino-reply.xml: In-Reply-To and References name the replied message; the quote is shown once, as '> '", async () => {
  await withArchive(async (archive) => {
    const original = await archive.store("dino-reply-original.xml", "sent");
    const { mail, record } = await archive.store("dino-reply.xml");
    assert.equal(record.chat.reply?.id, "6f1d0e3a-5c8b-4b0e-8d7e-1a2b3c4d5e6f");
    assert.equal(mail.inReplyTo, original.messageId);
    assert.ok(refs(mail).includes(original.messageId), `References: ${String(mail.references)}`);
    assert.equal(mail.text?.trimEnd(), "> We should bake a cake\nGreat idea! 🎂");
    assert.equal(count(mail.text ?? "", "We should bake a cake"), 1, "the quote once, not twice");
    assert.equal(mail.subject, "Great idea! 🎂", "the Subject is what was written, not the quote");
    // The stanza part keeps the body as sent, fallback included.
    assert.equal(parseStanzaXml(stanzaPart(mail)).getChildText("body"), "> We should bake a cake\nGreat idea! 🎂");
  });
});

test("dino-reply-groupchat.xml: a room reply names the room's stanza-id, found in the room folder", async () => {
  await withArchive(async (archive) => {
    const original = await archive.store("room-message.xml", "groupchat");
    const { mail } = await archive.store("dino-reply-groupchat.xml", "groupchat");
    assert.equal(mail.inReplyTo, original.messageId, "by the stanza-id, though the original's Message-ID comes from its origin-id");
    assert.equal(mail.text?.trimEnd(), "> lunch at noon?\ncount me in");
    assert.equal(original.mail.headers.get("x-xmpp-stanza-id"), "Qx7Zk2mV9pRt; by=lounge@conference.example.org");
  });
});

test("a room reply after a restart finds its original by the X-XMPP-Stanza-ID header", async () => {
  await withArchive(async (archive) => {
    const original = await archive.store("room-message.xml", "groupchat");
    archive.restart();
    const { mail } = await archive.store("dino-reply-groupchat.xml", "groupchat");
    assert.equal(mail.inReplyTo, original.messageId);
  });
});

test("a room message with the user's server's stanza-id before the room's (ejabberd's MAM, a room elsewhere): replies and moderation still find it", async () => {
  await withArchive(async (archive) => {
    const doubled = fixture("room-message.xml").replace("<stanza-id ", '<stanza-id xmlns="urn:xmpp:sid:0" id="user-archive-1" by="alice@example.org"/><stanza-id ');
    const record = archived(capture("room-message.xml", "groupchat", doubled));
    assert.equal(record.ids.stanzaId?.by, "alice@example.org", "the first one, as before");
    assert.equal(record.ids.stanzaIds?.length, 2);
    const original = await archive.storeRecord(record);
    assert.equal(original.headers.get("x-xmpp-stanza-id"), "Qx7Zk2mV9pRt; by=lounge@conference.example.org", "the room's, for the scan after a restart");
    const { mail } = await archive.store("xep0425-moderate-1.xml", "groupchat");
    assert.equal(mail.headers.get("chat-delete"), original.messageId);
  });
});

for (const [file, quote, rest] of [
  ["kaidan-reply.xml", "> See you at 8?", "Yes, at the station."],
  ["movim-reply.xml", "> Anna wrote:\n> We should bake a cake", "Great idea!"],
] as const) {
  test(`${file}: the quote once, then the text; the original is not archived, so no In-Reply-To to it and a debug line`, async () => {
    await withArchive(async (archive) => {
      const { mail, record } = await archive.store(file);
      assert.equal(mail.text?.trimEnd(), `${quote}\n${rest}`);
      assert.equal(mail.subject, rest);
      assert.match(String(mail.inReplyTo), /^<day\./, "the conversation's day root, as for any chat");
      assert.ok(archive.debug.some((l) => l.msg === "reply to a message the archive does not have; stored without In-Reply-To" && l.reply === record.chat.reply?.id));
    });
  });
}

// ---- Moderation (XEP-0425) ----

for (const [file, by, reason] of [
  ["prosody-muc-moderation.xml", "mod", "Spam"],
  ["xep0425-moderate-0.xml", "macbeth", "This message contains inappropriate content for this forum"],
  ["xep0425-moderate-1.xml", "macbeth", "This message contains inappropriate content for this forum"],
  ["ejabberd-24-moderation.xml", "Alice2", "Spam"],
] as const) {
  test(`${file}: marked like a retraction (Chat-Delete and In-Reply-To the original), in the room's folder, saying who and why`, async () => {
    await withArchive(async (archive) => {
      const original = await archive.store("room-message.xml", "groupchat");
      const { mail, record } = await archive.store(file, "groupchat");
      assert.equal(record.chat.moderation?.id, "Qx7Zk2mV9pRt");
      assert.equal(record.chat.retracts, "Qx7Zk2mV9pRt");
      assert.deepEqual(record.placement.folder, ["Chats", "lounge"]);
      assert.equal(mail.headers.get("chat-delete"), original.messageId);
      assert.equal(mail.inReplyTo, original.messageId);
      assert.equal(mail.text?.trimEnd(), `(A moderator (${by}) retracted an earlier message in this room. Reason: ${reason})`);
      assert.match(mail.subject ?? "", /^\(A moderator/);
      // The original is kept as it was: the archive marks, it does not delete.
      assert.equal((await archive.find(record.owner.local, original.messageId)).text?.trimEnd(), "lunch at noon?");
    });
  });
}

test("a moderation reflected from room/nick is an occupant's message, not a moderation", () => {
  const forged = fixture("xep0425-moderate-1.xml").replace('from="lounge@conference.example.org"', 'from="lounge@conference.example.org/eve"');
  const record = archived(capture("xep0425-moderate-1.xml", "groupchat", forged));
  assert.equal(record.chat.moderation, undefined);
  assert.equal(record.chat.retracts, "Qx7Zk2mV9pRt", "an XEP-0424 retraction by its author, at most");
});

// ---- The rest of the corpus: what today's code makes of it ----

test("conversations-correction.xml: Chat-Edit and In-Reply-To the original it corrects", async () => {
  await withArchive(async (archive) => {
    const { mail } = await archive.store("conversations-correction.xml");
    assert.match(String(mail.headers.get("chat-edit")), /^<[0-9a-f]{32}@archive\.example\.org>$/);
    assert.equal(mail.inReplyTo, mail.headers.get("chat-edit"));
    assert.equal(mail.text?.trimEnd(), "meet at the station");
  });
});

test("monal-retraction.xml: Chat-Delete names the original; the text is Monal's fallback sentence", async () => {
  await withArchive(async (archive) => {
    const { mail, record } = await archive.store("monal-retraction.xml");
    assert.equal(record.chat.retracts, "4a8b8dac-acbc-4166-a2fb-286c7561bfa9");
    assert.ok(mail.headers.get("chat-delete"));
    assert.match(mail.text ?? "", /attempted to retract a previous message/);
  });
});

test("monal-marker.xml: a displayed marker the owner sent flags the original, no mail", () => {
  const result = capture("monal-marker.xml", "sent");
  assert.equal(result.kind, "mark");
  const mark = (result as { mark: { id: string; seen: boolean } }).mark;
  assert.equal(mark.id, "0b4d6b9e-2f49-4a55-9a9e-3c1c9f6a2d10");
  assert.equal(mark.seen, true);
});

// Without --upload-origins nothing is fetched: the link is the mail (test/unit/uploads.test.ts has
// the fetched and attached shape of the same shares, upload-*.xml).
test("conversations-file-share.xml: without --upload-origins the URL is the text", async () => {
  await withArchive(async (archive) => {
    const { mail } = await archive.store("conversations-file-share.xml");
    assert.equal(mail.text?.trimEnd(), "https://share.example.org/upload/Zx3c/IMG_20261201_101010.jpg");
    assert.equal(mail.attachments.filter((a) => a.contentType !== "application/xmpp+xml").length, 0);
  });
});

test("kaidan-file-share.xml: without --upload-origins the URL is the text, once (OOB and SFS name the same URL)", async () => {
  await withArchive(async (archive) => {
    const { mail, record } = await archive.store("kaidan-file-share.xml");
    assert.deepEqual(record.chat.links.map((l) => l.url), ["https://share.example.org/upload/Qw9e/report.pdf"]);
    assert.equal(count(mail.text ?? "", "https://share.example.org/upload/Qw9e/report.pdf"), 1);
    assert.equal(mail.attachments.filter((a) => a.contentType !== "application/xmpp+xml").length, 0);
  });
});

test("movim-reaction.xml: an RFC 9078 reaction mail, In-Reply-To the original (folder and Seen: chat-archiver.test.ts)", async () => {
  await withArchive(async (archive) => {
    // The message Bob reacts to: Alice's, with the id the reaction names.
    const original = `<message to="bob@example.org" type="chat" id="6f1d0e3a-5c8b-4b0e-8d7e-1a2b3c4d5e6f" from="alice@example.org/phone"><body>lunch at noon?</body></message>`;
    const first = archived(capture("dino-reply.xml", "sent", original));
    await archive.storeRecord(first);
    const record = archived(capture("movim-reaction.xml"));
    assert.deepEqual(record.chat.reaction, { id: "6f1d0e3a-5c8b-4b0e-8d7e-1a2b3c4d5e6f", emojis: ["👍"] });
    const mail = await archive.storeRecord(record);
    assert.equal(mail.subject, "Reaction: 👍");
    assert.match(String(mail.inReplyTo), /^</);
    const originalMail = await archive.find("alice", String(mail.inReplyTo));
    assert.equal(originalMail.text?.trimEnd(), "lunch at noon?");
    // RFC 9078 §2: the emoji is the text part, with Content-Disposition: reaction (which mailparser,
    // like most mail clients, lists as an attachment).
    const part = mail.attachments.find((a) => a.contentDisposition === "reaction");
    assert.equal(part?.content.toString("utf8"), "👍");
  });
});

// ---- Gajim (gajim-*.xml) and Cheogram (cheogram-*.xml) ----

// Gajim's quote ends in one newline, Cheogram's in a blank line (both inside the fallback range); the
// mail shows either as the quote lines, then the text.
for (const [file, quote, rest] of [
  ["gajim-reply.xml", "> We should bake a cake\n", "Chocolate, I hope"],
  ["cheogram-reply.xml", "> We should bake a cake\n\n", "I'll bring the eggs"],
] as const) {
  test(`${file}: In-Reply-To and References name the replied message; the quote is shown once, as '> '`, async () => {
    await withArchive(async (archive) => {
      const original = await archive.store("dino-reply-original.xml", "sent");
      const { mail, record } = await archive.store(file);
      assert.equal(record.chat.reply?.id, "6f1d0e3a-5c8b-4b0e-8d7e-1a2b3c4d5e6f");
      assert.equal(mail.inReplyTo, original.messageId);
      assert.ok(refs(mail).includes(original.messageId), `References: ${String(mail.references)}`);
      assert.equal(count(mail.text ?? "", "We should bake a cake"), 1, "the quote once, not twice");
      assert.equal(record.chat.reply?.fallback?.quote, quote, "the fallback range covers the quote, to the code point");
      assert.equal(mail.text?.trimEnd(), `> We should bake a cake\n${rest}`);
      // The stanza part keeps the body as sent, fallback included.
      assert.equal(parseStanzaXml(stanzaPart(mail)).getChildText("body"), `${quote}${rest}`);
      assert.equal(mail.subject, rest, "the Subject is what was written, not the quote");
    });
  });
}

for (const [file, emoji] of [
  ["gajim-reaction.xml", "❤"],
  ["cheogram-reaction.xml", "👍"],
] as const) {
  test(`${file}: an RFC 9078 reaction mail, In-Reply-To the original`, async () => {
    await withArchive(async (archive) => {
      const original = await archive.store("dino-reply-original.xml", "sent");
      const { mail, record } = await archive.store(file);
      assert.deepEqual(record.chat.reaction, { id: "6f1d0e3a-5c8b-4b0e-8d7e-1a2b3c4d5e6f", emojis: [emoji] });
      assert.equal(mail.subject, `Reaction: ${emoji}`);
      assert.equal(mail.inReplyTo, original.messageId);
      const part = mail.attachments.find((a) => a.contentDisposition === "reaction");
      assert.equal(part?.content.toString("utf8"), emoji);
    });
  });
}

test("gajim-correction.xml: Chat-Edit and In-Reply-To the original it corrects", async () => {
  await withArchive(async (archive) => {
    const { mail, record } = await archive.store("gajim-correction.xml");
    assert.equal(record.chat.replaces, "3f2e1d0c-9b8a-4c7d-8e6f-5a4b3c2d1e0f");
    assert.match(String(mail.headers.get("chat-edit")), /^<[0-9a-f]{32}@archive\.example\.org>$/);
    assert.equal(mail.inReplyTo, mail.headers.get("chat-edit"));
    assert.equal(mail.text?.trimEnd(), "meet at the north entrance");
  });
});

test("gajim-retraction.xml: Chat-Delete names the original; the text is Gajim's fallback sentence", async () => {
  await withArchive(async (archive) => {
    const { mail, record } = await archive.store("gajim-retraction.xml");
    assert.equal(record.chat.retracts, "3f2e1d0c-9b8a-4c7d-8e6f-5a4b3c2d1e0f");
    assert.ok(mail.headers.get("chat-delete"));
    assert.match(mail.text ?? "", /retracted a previous message, but it's unsupported by your client/);
  });
});

test("gajim-file-share.xml: without --upload-origins the URL is the text, once", async () => {
  await withArchive(async (archive) => {
    const { mail, record } = await archive.store("gajim-file-share.xml");
    assert.deepEqual(record.chat.links.map((l) => l.url), ["https://share.example.org/upload/Lm4n/holiday.png"]);
    assert.equal(mail.text?.trimEnd(), "https://share.example.org/upload/Lm4n/holiday.png");
    assert.equal(mail.attachments.filter((a) => a.contentType !== "application/xmpp+xml").length, 0);
  });
});

// ---- Bad input ----

test("bad-reply-unknown-id.xml: stored as an ordinary message, quote once, no In-Reply-To to the unknown id, a debug line", async () => {
  await withArchive(async (archive) => {
    const { mail } = await archive.store("bad-reply-unknown-id.xml");
    assert.equal(mail.text?.trimEnd(), "> who said this?\nnot me");
    assert.match(String(mail.inReplyTo), /^<day\./);
    assert.ok(archive.debug.some((l) => l.reply === "no-such-message-anywhere" && l.level === 20));
  });
});

test("bad-reply-no-id.xml: a reply without an id, with a range past the body: stored with its body as sent", async () => {
  await withArchive(async (archive) => {
    const { mail, record } = await archive.store("bad-reply-no-id.xml");
    assert.equal(record.chat.reply, undefined);
    assert.equal(mail.text?.trimEnd(), "> quoted\nanswer");
  });
});

test("a reply whose fallback range is broken (negative, reversed, past the end, not a number) shows the body unsplit", () => {
  for (const range of ["start='-1' end='3'", "start='5' end='2'", "start='0' end='99'", "start='x' end='3'"]) {
    const stanza = `<message to="alice@example.org" type="chat" id="r" from="bob@example.org/x"><body>&gt; a\nb</body><reply xmlns="urn:xmpp:reply:0" id="o"/><fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reply:0"><body ${range}/></fallback></message>`;
    const record = archived(capture("dino-reply.xml", "chat", stanza));
    assert.equal(record.chat.reply?.id, "o");
    assert.equal(record.chat.reply?.fallback, undefined, range);
  }
});

test("bad-moderation-no-id.xml: a moderation naming no message is confirmed, not stored, with the reason", () => {
  const result = capture("bad-moderation-no-id.xml", "groupchat");
  assert.equal(result.kind, "skip");
  assert.equal((result as { reason: string }).reason, "moderation (XEP-0425) without the id of a message");
});

test("an encrypted element without a payload: key transport is confirmed unstored; with a fallback body it is stored, named", () => {
  assert.equal(capture("omemo-key-transport.xml", "offline").kind, "skip");
  assert.equal(archived(capture("omemo-header-only.xml", "offline")).encryption?.scheme, "OMEMO");
});

test("every fixture in the directory names its source and is used by a test", () => {
  const files = readFileSync(fileURLToPath(new URL("../../../test/unit/clients-corpus.test.ts", import.meta.url)), "utf8");
  const encrypted = readFileSync(fileURLToPath(new URL("../../../test/unit/encrypted.test.ts", import.meta.url)), "utf8");
  const uploads = readFileSync(fileURLToPath(new URL("../../../test/unit/uploads.test.ts", import.meta.url)), "utf8");
  for (const name of readdirSync(fileURLToPath(FIXTURES)).filter((n) => n.endsWith(".xml"))) {
    fixture(name);
    assert.ok(files.includes(name) || encrypted.includes(name) || uploads.includes(name), `${name} has a unit test`);
  }
});
