// Chat history end to end: a real Prosody (our module with chat history and group chat on, and
// its bundled MUC), the real CLI with --chat-history --groupchat as the mail user, real XMPP
// clients, and everything read back through a real Dovecot over IMAP.
import { after, before, describe, test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { simpleParser } from "mailparser";
import { xml } from "@xmpp/client";
import type { ComponentProcess, LogLine } from "../../harness/component.js";
import { listMailbox, type ListedMessage } from "../../harness/imap.js";
import { listFolders, waitForMailbox } from "../../harness/imap-folders.js";
import { DOMAIN, startStack, type Stack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";

const MUC = `conference.${DOMAIN}`;
const ROOM = `lounge@${MUC}`;

const stored = (user: string, reason: string, pred: (l: LogLine) => boolean = () => true) => (l: LogLine) =>
  l.msg === "stored" && l.user === `${user}@${DOMAIN}` && l.reason === reason && pred(l);
const withSubject = (subject: string) => (messages: ListedMessage[]) => messages.some((m) => m.subject === subject);
/** \Recent is per IMAP session (RFC 3501 §2.3.2), not stored state: whichever session looks first sees it. */
const stateFlags = (m: ListedMessage | undefined) => m?.flags.filter((f) => f !== "\\Recent");
const find = (messages: ListedMessage[], subject: string): ListedMessage => {
  const found = messages.find((m) => m.subject === subject);
  assert.ok(found, `a mail with subject ${JSON.stringify(subject)} among ${messages.map((m) => JSON.stringify(m.subject)).join(", ")}`);
  return found;
};

describe(onServers("chat history through a real Prosody into Maildir folders that Dovecot serves"), () => {
  let dir: string;
  let stack: Stack;
  let component: ComponentProcess;
  const clients: TestClient[] = [];
  const client = async (username: string) => {
    const c = await connectClient({ port: stack.prosody.c2sPort, domain: DOMAIN, username, password: stack.password, resource: "laptop" });
    clients.push(c);
    return c;
  };
  const mailbox = (user: string, name = "INBOX") => ({ ...stack.imap(user), mailbox: name });

  before(async () => {
    dir = await makeTempDir("xmd-chat-");
    stack = await startStack({
      dir,
      users: ["alice", "bob", "carol"],
      prosodyHostConfig: [
        "xmpp_maildir_chat_history = true",
        "xmpp_maildir_groupchat = true",
        // Prosody config sections follow one another: this ends the VirtualHost section the
        // harness opened and adds Prosody's bundled MUC as its own component host, before the
        // harness's Component line for the archive.
        `Component "${MUC}" "muc"`,
        // Rooms are usable as soon as they are created (no XEP-0045 §10.1.2 configuration step).
        "muc_room_locking = false",
      ],
    });
    component = stack.component({ args: ["--chat-history", "--groupchat"] });
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
  });

  after(async () => {
    for (const c of clients) await c.stop();
    const code = await component?.stop("SIGTERM");
    const serverErrors = (await stack?.serverErrors()) ?? [];
    await stack?.stop();
    await removeDir(dir);
    assert.equal(code, 0, `component exits 0 on SIGTERM; stderr: ${component?.stderr()}`);
    assert.deepEqual(serverErrors, [], "no errors from our module (or any other) in Prosody's log");
  });

  test("a chat between two online local users lands in both users' Chats folders, Seen, with keywords and chat headers", async () => {
    const alice = await client("alice");
    const bob = await client("bob");
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "lunch at noon?", id: "c1", extra: xml("origin-id", { xmlns: "urn:xmpp:sid:0", id: "c1" }) });
    await bob.waitForStanza((s) => s.getChildText("body") === "lunch at noon?");
    await bob.sendMessage({ to: `alice@${DOMAIN}`, body: "sure, see you", id: "c2" });
    await alice.waitForStanza((s) => s.getChildText("body") === "sure, see you");

    for (const user of ["alice", "bob"]) {
      const chats = await waitForMailbox(mailbox(user, "Chats"), (m) => m.length >= 2);
      assert.equal(chats.length, 2, `${user}: both directions, once each`);
      for (const mail of chats) {
        // FETCH FLAGS: \Seen from the ":2,S" suffix, the keywords from dovecot-keywords letters.
        assert.deepEqual(stateFlags(mail), ["$XMPP", "$XMPPChat", "\\Seen"], `${user}: ${mail.subject}`);
        const parsed = await simpleParser(mail.source);
        assert.equal(parsed.headers.get("chat-version"), "1.0");
      }
      const [first, second] = await Promise.all(chats.map((m) => simpleParser(m.source)));
      // One conversation, one day: both mails reference the same thread root.
      assert.ok(first?.references && first.references === second?.references, `${user}: same References: ${String(first?.references)} / ${String(second?.references)}`);
      assert.deepEqual(
        chats.map((m) => m.from),
        [`alice@${DOMAIN}`, `bob@${DOMAIN}`],
        `${user}: what alice sent and what bob sent`,
      );
    }
    assert.equal(component.logs.filter(stored("alice", "sent")).length, 1);
    assert.equal(component.logs.filter(stored("bob", "chat")).length, 1);
    const folders = await listFolders(stack.imap("alice"));
    assert.ok(folders.some((f) => f.path === "Chats" && f.subscribed), `Chats is listed and subscribed: ${JSON.stringify(folders)}`);
    assert.equal((await listMailbox(mailbox("alice"))).length, 0, "nothing live went to INBOX");
  });

  test("a chat that asks not to be stored (XEP-0334) is delivered but not archived, and typing notifications are not copied", async () => {
    const alice = await client("alice");
    const bob = await client("bob");
    const copiesBefore = component.logs.filter((l) => l.msg === "stored" || l.msg === "not archived").length;
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "off the record", id: "ns-1", extra: xml("no-store", { xmlns: "urn:xmpp:hints" }) });
    await alice.send(xml("message", { to: `bob@${DOMAIN}`, type: "chat", id: "ns-2" }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" })));
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "on the record", id: "ns-3" });
    await bob.waitForStanza((s) => s.getChildText("body") === "off the record");
    for (const user of ["alice", "bob"]) {
      const chats = await waitForMailbox(mailbox(user, "Chats"), withSubject("on the record"));
      assert.ok(!chats.some((m) => m.subject === "off the record"), user);
    }
    // Exactly the two copies of "on the record" reached the component: nothing for ns-1 or ns-2.
    await component.waitForLog(stored("bob", "chat", (l) => l.id !== undefined && component.logs.filter((x) => x.msg === "stored" || x.msg === "not archived").length >= copiesBefore + 2));
    assert.equal(component.logs.filter((l) => l.msg === "stored" || l.msg === "not archived").length, copiesBefore + 2);
  });

  test("a correction threads under its original, which is kept", async () => {
    const alice = await client("alice");
    const bob = await client("bob");
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "meet at the statoin", id: "fix-1" });
    await bob.waitForStanza((s) => s.getChildText("body") === "meet at the statoin");
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "meet at the station", id: "fix-2", extra: xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "fix-1" }) });
    const chats = await waitForMailbox(mailbox("bob", "Chats"), withSubject("meet at the station"));
    const original = find(chats, "meet at the statoin");
    const correction = await simpleParser(find(chats, "meet at the station").source);
    assert.ok(original.messageId);
    assert.equal(correction.inReplyTo, original.messageId);
    assert.equal(correction.headers.get("chat-edit"), original.messageId);
    assert.ok(String(correction.references).includes(original.messageId));
  });

  test("an offline chat stays unseen in INBOX; the recipient's displayed marker and receipt flag it", async () => {
    const bob = await client("bob");
    await bob.sendMessage({ to: `carol@${DOMAIN}`, body: "call me when you are back", id: "off-1" });
    await component.waitForLog(stored("carol", "offline"));
    const [unread] = await waitForMailbox(mailbox("carol"), (m) => m.length === 1);
    assert.deepEqual(stateFlags(unread), ["$XMPP", "$XMPPChat", "$XMPPOffline"], "unseen, with keywords");

    const carol = await client("carol");
    await carol.waitForStanza((s) => s.getChildText("body") === "call me when you are back");
    await carol.send(xml("message", { to: `bob@${DOMAIN}`, type: "chat", id: "rcpt-1" }, xml("received", { xmlns: "urn:xmpp:receipts", id: "off-1" })));
    await carol.send(xml("message", { to: `bob@${DOMAIN}`, type: "chat", id: "mark-1" }, xml("displayed", { xmlns: "urn:xmpp:chat-markers:0", id: "off-1" })));
    const [read] = await waitForMailbox(mailbox("carol"), (m) => m[0]?.flags.includes("\\Seen") === true && m[0].flags.includes("$MDNSent"));
    assert.deepEqual(stateFlags(read), ["$MDNSent", "$XMPP", "$XMPPChat", "$XMPPOffline", "\\Seen"]);
    assert.equal(read?.uid, unread?.uid, "the same message, flagged in place");
    assert.ok(component.logs.some((l) => l.msg === "marked" && l.result === "updated" && l.user === `carol@${DOMAIN}`));
    assert.equal((await listMailbox(mailbox("carol"))).length, 1, "markers write no mail");
    // Nothing carol sent had a body, and mod_offline's delivery at login is not a new live chat.
    assert.deepEqual((await listFolders(stack.imap("carol"))).map((f) => f.path), ["INBOX"]);
  });

  test("a room message lands once in each local occupant's room folder, from the nick", async () => {
    const alice = await client("alice");
    const bob = await client("bob");
    for (const [c, nick] of [[alice, "Alice"], [bob, "Bobby"]] as const) {
      await c.send(xml("presence", { to: `${ROOM}/${nick}` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
      await c.waitForStanza((s) => s.is("presence") && s.attrs.from === `${ROOM}/${nick}`);
    }
    await alice.send(xml("message", { to: ROOM, type: "groupchat", id: "g1" }, xml("body", {}, "hello room")));
    for (const c of [alice, bob]) await c.waitForStanza((s) => s.attrs.type === "groupchat" && s.getChildText("body") === "hello room");
    for (const user of ["alice", "bob"]) {
      const room = await waitForMailbox(mailbox(user, "Chats.lounge"), withSubject("hello room"));
      assert.equal(room.length, 1, `${user}: once`);
      const parsed = await simpleParser(room[0]!.source);
      assert.equal(parsed.from?.value[0]?.name, "Alice");
      assert.equal(parsed.from?.value[0]?.address, ROOM);
      assert.equal(parsed.headers.get("chat-group-id"), ROOM);
      assert.equal(parsed.headers.get("chat-group-name"), "lounge");
      assert.deepEqual(stateFlags(room[0]), ["$XMPP", "$XMPPChat", "$XMPPGroupChat", "\\Seen"]);
    }
    const folders = await listFolders(stack.imap("bob"));
    assert.ok(folders.some((f) => f.path === "Chats.lounge" && f.subscribed), JSON.stringify(folders));
  });
});
