// Maildir++ folders, Dovecot keywords, flagged delivery, flag changes and the message index, on a
// real file system. (That Dovecot reads all of this back is checked in test/integration/chat.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openJournal } from "../../src/dedupe/index.js";
import {
  addFlags, createKeywordMap, createMaildirWriter, createMessageIndex, createNameSource, encodeMutf7, folderDir, idKey, withDovecotLock,
} from "../../src/maildir/index.js";
import { BadAddressError } from "../../src/errors.js";

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "xmd-chat-unit-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
const mail = (id: string) => Buffer.from(`Message-ID: <${id}@x>\r\nJabber-ID: bob@example.net\r\nX-XMPP-ID: ${id}\r\nSubject: ${id}\r\n\r\nbody\r\n`);

test("folder names in modified UTF-7 (RFC 3501 §5.1.3), as Dovecot names the directories", () => {
  assert.equal(encodeMutf7("Chats"), "Chats");
  assert.equal(encodeMutf7("Ünï room"), "&ANw-n&AO8- room");
  assert.equal(encodeMutf7("台北"), "&U,BTFw-");
  assert.equal(encodeMutf7("日本語"), "&ZeVnLIqe-");
  assert.equal(encodeMutf7("R&D"), "R&-D");
  assert.equal(encodeMutf7("🙂"), "&2D3eQg-");
  assert.equal(folderDir("/m", []), "/m");
  assert.equal(folderDir("/m", ["Chats", "Ünï room"]), "/m/.Chats.&ANw-n&AO8- room");
  for (const bad of [["a.b"], ["a/b"], [".."], [""], ["IN\nBOX"], ["inbox"]]) assert.throws(() => folderDir("/m", bad), BadAddressError, JSON.stringify(bad));
});

test("delivering into a folder makes it and its parents, with maildirfolder, and subscribes them once", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    // What a user subscribed to before, in the format Dovecot 2.3 writes.
    await mkdir(maildir, { recursive: true });
    await writeFile(path.join(maildir, "subscriptions"), "V\t2\n\nArchive\tOld\n");
    const writer = createMaildirWriter({ fsync: false });
    await writer.deliver(maildir, mail("a"), { folder: ["Chats", "Ünï room"] });
    await writer.deliver(maildir, mail("b"), { folder: ["Chats"] });
    for (const sub of [".Chats", ".Chats.&ANw-n&AO8- room"]) {
      assert.equal((await stat(path.join(maildir, sub, "maildirfolder"))).size, 0, sub);
      assert.deepEqual((await readdir(path.join(maildir, sub))).filter((n) => ["cur", "new", "tmp"].includes(n)).sort(), ["cur", "new", "tmp"]);
    }
    assert.equal(await readFile(path.join(maildir, "subscriptions"), "utf8"), "V\t2\n\nArchive\tOld\nChats\nChats\t&ANw-n&AO8- room\n");
    // INBOX has no maildirfolder: it is the Maildir itself.
    await assert.rejects(stat(path.join(maildir, "maildirfolder")));
  });
});

test("an old-format subscriptions file stays in its format", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    await mkdir(maildir, { recursive: true });
    await writeFile(path.join(maildir, "subscriptions"), "Archive\n");
    await createMaildirWriter({ fsync: false }).deliver(maildir, mail("a"), { folder: ["Chats", "x"] });
    assert.equal(await readFile(path.join(maildir, "subscriptions"), "utf8"), "Archive\nChats\nChats.x\n");
  });
});

test("flags put the mail in cur/ with :2,<flags>; keywords get letters from dovecot-keywords, keeping Dovecot's own", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    await mkdir(maildir, { recursive: true });
    // A keyword a client set earlier, through Dovecot.
    await writeFile(path.join(maildir, "dovecot-keywords"), "0 $Label1\n");
    const old = new Date("2020-01-01T00:00:00Z");
    await utimes(path.join(maildir, "dovecot-keywords"), old, old);
    const writer = createMaildirWriter({ fsync: false });
    const plain = await writer.deliver(maildir, mail("a"));
    assert.equal(path.basename(path.dirname(plain.path)), "new");
    const flagged = await writer.deliver(maildir, mail("b"), { seen: true, keywords: ["$XMPP", "$XMPPChat"] });
    assert.equal(path.relative(maildir, flagged.path), `cur/${flagged.base}:2,Sbc`);
    assert.equal(await readFile(path.join(maildir, "dovecot-keywords"), "utf8"), "0 $Label1\n1 $XMPP\n2 $XMPPChat\n");
    assert.ok((await stat(path.join(maildir, "dovecot-keywords"))).mtimeMs > old.getTime(), "a later mtime, so Dovecot re-reads it");
    const unseen = await writer.deliver(maildir, mail("c"), { keywords: ["$XMPPChat"] });
    assert.equal(path.relative(maildir, unseen.path), `cur/${unseen.base}:2,c`);
    assert.deepEqual(await readdir(path.join(maildir, "tmp")), []);
    assert.ok(!(await readdir(maildir)).includes("dovecot-uidlist.lock"), "the lock is released");
  });
});

test("a folder whose 26 keyword letters are taken gets the mail without the missing keywords", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    await mkdir(maildir, { recursive: true });
    await writeFile(path.join(maildir, "dovecot-keywords"), Array.from({ length: 25 }, (_, i) => `${i} k${i}\n`).join(""));
    const delivered = await createMaildirWriter({ fsync: false }).deliver(maildir, mail("a"), { keywords: ["$XMPP", "$XMPPChat"] });
    assert.deepEqual(delivered.droppedKeywords, ["$XMPPChat"]);
    assert.ok(delivered.path.endsWith(":2,z"));
  });
});

test("the dedupe journal finds a flagged delivery in cur/, also after a reader renamed it", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    const journal = await openJournal(path.join(dir, "state"));
    const writer = createMaildirWriter({ fsync: false });
    const delivered = await writer.deliver(maildir, mail("a"), { seen: true, keywords: ["$XMPP"], beforeRename: (p) => journal.prepare("k1", p) });
    await rename(delivered.path, path.join(maildir, "cur", `${delivered.base}:2,FSa`));
    await journal.close();
    const reopened = await openJournal(path.join(dir, "state"));
    assert.equal(await reopened.lookup("k1"), "stored");
    await reopened.close();
  });
});

test("adding flags moves new/ to cur/, merges with what is there, and follows a concurrent rename", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    const writer = createMaildirWriter({ fsync: false });
    const keywords = createKeywordMap({ fileMode: 0o600 });
    const d = await writer.deliver(maildir, mail("a"));
    const first = await addFlags(keywords, maildir, d.base, { seen: false, keywords: ["$MDNSent"] }, `new/${d.base}`);
    assert.deepEqual(first, { result: "updated", name: `cur/${d.base}:2,a` });
    // "Dovecot" renames it (a client flagged it) after we last saw it: the hint is stale.
    await rename(path.join(maildir, first.name!), path.join(maildir, "cur", `${d.base}:2,Fa`));
    const second = await addFlags(keywords, maildir, d.base, { seen: true, keywords: [] }, first.name);
    assert.deepEqual(second, { result: "updated", name: `cur/${d.base}:2,FSa` });
    assert.deepEqual(await readdir(path.join(maildir, "cur")), [`${d.base}:2,FSa`]);
    assert.equal((await addFlags(keywords, maildir, d.base, { seen: true, keywords: ["$MDNSent"] })).result, "unchanged");
    await rm(path.join(maildir, "cur", `${d.base}:2,FSa`));
    assert.equal((await addFlags(keywords, maildir, d.base, { seen: true, keywords: [] })).result, "missing");
  });
});

test("the message index remembers by key, evicts the oldest, and rebuilds from headers once per owner", async () => {
  await withTmp(async (dir) => {
    const maildir = path.join(dir, "Maildir");
    const writer = createMaildirWriter({ fsync: false });
    for (const id of ["m1", "m2", "m3"]) await writer.deliver(maildir, mail(id), { folder: ["Chats"], seen: true });
    const index = createMessageIndex({ maxEntries: 4, scanPerFolder: 2 });
    const folders = async () => [maildir, path.join(maildir, ".Chats")];
    // A restart: nothing remembered, so the first miss reads the newest 2 files per folder.
    const hit = await index.find("alice", [idKey("bob@example.net", "m3")], folders);
    assert.equal(hit?.messageId, "<m3@x>");
    assert.equal(hit?.folderDir, path.join(maildir, ".Chats"));
    assert.equal(await index.find("alice", ["<m2@x>"], folders).then((m) => m?.messageId), "<m2@x>");
    assert.equal(await index.find("alice", ["<m1@x>"], folders), undefined, "older than the scan, and no second scan");
    index.remember("alice", ["<n1@x>", "<n2@x>", "<n3@x>"], { folderDir: maildir, base: "b", name: "new/b", messageId: "<n@x>" });
    assert.equal(index.size, 4);
    assert.equal(await index.find("alice", ["<m3@x>"], folders), undefined, "the least recently used are evicted");
    assert.equal((await index.find("alice", ["<m2@x>"], folders))?.messageId, "<m2@x>", "a recently used one stays");
    assert.equal((await index.find("alice", ["<n3@x>"], folders))?.messageId, "<n@x>");
  });
});

test("a Dovecot dot-lock is waited for, and a stale one is taken over", async () => {
  await withTmp(async (dir) => {
    const lock = path.join(dir, "dovecot-uidlist.lock");
    await writeFile(lock, "123:other");
    let ran = false;
    const waiting = withDovecotLock(lock, async () => {
      ran = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(ran, false, "held by someone else");
    await rm(lock);
    await waiting;
    assert.equal(ran, true);
    await writeFile(lock, "123:crashed");
    const old = new Date(Date.now() - 10 * 60_000);
    await utimes(lock, old, old);
    assert.equal(await withDovecotLock(lock, async () => "taken over"), "taken over");
    await assert.rejects(stat(lock));
  });
});

test("a file name can carry the arrival time, which is what Dovecot orders new UIDs by", () => {
  const names = createNameSource({ hostname: "h", pid: 1 });
  const later = names.next(10, Date.UTC(2026, 0, 2, 3, 4, 5, 678) + 0.901);
  const earlier = names.next(10, Date.UTC(2026, 0, 2, 3, 4, 5, 123) + 0.456);
  assert.match(later, /^1767323045\.M678901P1Q1R[0-9a-f]{8}\.h,S=10$/);
  assert.match(earlier, /^1767323045\.M123456P1Q2R/);
});
