// Chat history through a real ejabberd (23.01 or 24.12, per generation): the module with chat_history and groupchat on (and
// ejabberd's mod_muc), the real CLI with --chat-history --groupchat as the mail user, real XMPP
// clients, everything read back through a real Dovecot over IMAP. The same scenarios as
// chat.test.ts (Prosody), plus what ejabberd routes that Prosody does not (carbons, several
// joined resources in a room).
import { after, before, describe, test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { simpleParser } from "mailparser";
import { xml } from "@xmpp/client";
import type { ComponentProcess, LogLine } from "../../harness/component.js";
import { waitForEmptyOutbox } from "../../harness/ejabberd.js";
import { listMailbox, type ListedMessage } from "../../harness/imap.js";
import { listFolders, waitForMailbox } from "../../harness/imap-folders.js";
import { DOMAIN, startStack, type EjabberdStack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";

const MUC = `conference.${DOMAIN}`;
const ROOM = `lounge@${MUC}`;

const stored = (user: string, reason: string) => (l: LogLine) => l.msg === "stored" && l.user === `${user}@${DOMAIN}` && l.reason === reason;
const withSubject = (subject: string) => (messages: ListedMessage[]) => messages.some((m) => m.subject === subject);
/** \Recent is per IMAP session (RFC 3501 §2.3.2), not stored state: whichever session looks first sees it. */
const stateFlags = (m: ListedMessage | undefined) => m?.flags.filter((f) => f !== "\\Recent");

describe(onServers("chat history through a real ejabberd into Maildir folders that Dovecot serves"), () => {
  let dir: string;
  let stack: EjabberdStack;
  let component: ComponentProcess;
  const clients: TestClient[] = [];
  const client = async (username: string, resource = "laptop") => {
    const c = await connectClient({ port: stack.ejabberd.c2sPort, domain: DOMAIN, username, password: stack.password, resource });
    clients.push(c);
    return c;
  };
  const mailbox = (user: string, name = "INBOX") => ({ ...stack.imap(user), mailbox: name });
  /** Copies the component handled (each logs one line with the copy's IQ id before confirming it). */
  const copiesSeen = () => component.logs.filter((l) => typeof l.id === "string" && l.id.startsWith("xmd-")).length;

  before(async () => {
    dir = await makeTempDir("xmd-ejabberd-chat-");
    stack = await startStack({ dir, users: ["alice", "bob", "carol"], server: "ejabberd", module: { chatHistory: true, groupchat: true } });
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
    assert.deepEqual(serverErrors, [], "no errors in ejabberd's log");
  });

  test("a chat between two online local users lands in both users' Chats folders once, carbons and all", async () => {
    const alice = await client("alice");
    const bob = await client("bob");
    // A second resource each, with carbons: ejabberd routes the carbons, which must not be copied.
    const alicePhone = await client("alice", "phone");
    const bobPhone = await client("bob", "phone");
    for (const c of [alice, bob, alicePhone, bobPhone]) await c.client.iqCaller.request(xml("iq", { type: "set" }, xml("enable", { xmlns: "urn:xmpp:carbons:2" })));
    const seen = copiesSeen();
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "lunch at noon?", id: "c1" });
    await bob.waitForStanza((s) => s.getChildText("body") === "lunch at noon?");
    await bob.sendMessage({ to: `alice@${DOMAIN}`, body: "sure, see you", id: "c2" });
    await alice.waitForStanza((s) => s.getChildText("body") === "sure, see you");
    // Messages to a bare JID reach both resources of equal priority; what alice sent from her
    // laptop reaches her phone as a carbon, routed through ejabberd_sm like any message.
    await alicePhone.waitForStanza((s) => s.getChild("sent", "urn:xmpp:carbons:2") !== undefined);
    await bobPhone.waitForStanza((s) => s.getChild("sent", "urn:xmpp:carbons:2") !== undefined);

    for (const user of ["alice", "bob"]) {
      const chats = await waitForMailbox(mailbox(user, "Chats"), (m) => m.length >= 2);
      assert.equal(chats.length, 2, `${user}: both directions, once each`);
      for (const mail of chats) assert.deepEqual(stateFlags(mail), ["$XMPP", "$XMPPChat", "\\Seen"], `${user}: ${mail.subject}`);
      assert.deepEqual(chats.map((m) => m.from), [`alice@${DOMAIN}`, `bob@${DOMAIN}`], `${user}: what alice sent and what bob sent`);
    }
    await waitForEmptyOutbox(stack.ejabberd);
    assert.equal(copiesSeen(), seen + 4, "sent + chat for each message; no copies of carbons");
    assert.equal(component.logs.filter(stored("alice", "sent")).length, 1);
    assert.equal(component.logs.filter(stored("bob", "chat")).length, 1);
    assert.equal((await listMailbox(mailbox("alice"))).length, 0, "nothing live went to INBOX");
    for (const c of [alicePhone, bobPhone]) await c.stop();
  });

  test("a chat that asks not to be stored (XEP-0334) is delivered but not archived, and typing notifications are not copied", async () => {
    const alice = await client("alice", "ns");
    const bob = await client("bob", "ns");
    const seen = copiesSeen();
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "off the record", id: "ns-1", extra: xml("no-store", { xmlns: "urn:xmpp:hints" }) });
    await alice.send(xml("message", { to: `bob@${DOMAIN}`, type: "chat", id: "ns-2" }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" })));
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "on the record", id: "ns-3" });
    await bob.waitForStanza((s) => s.getChildText("body") === "on the record");
    for (const user of ["alice", "bob"]) {
      const chats = await waitForMailbox(mailbox(user, "Chats"), withSubject("on the record"));
      assert.ok(!chats.some((m) => m.subject === "off the record"), user);
    }
    await waitForEmptyOutbox(stack.ejabberd);
    assert.equal(copiesSeen(), seen + 2, "the two copies of 'on the record', nothing for ns-1 or ns-2");
  });

  test("an offline chat stays unseen in INBOX; the recipient's displayed marker and receipt flag it; redelivery at login is not a new chat", async () => {
    const bob = await client("bob", "offline");
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
    await waitForEmptyOutbox(stack.ejabberd);
    assert.equal((await listMailbox(mailbox("carol"))).length, 1, "markers write no mail");
    // Nothing carol sent had a body, and mod_offline's re-routing at login is not a live chat.
    assert.deepEqual((await listFolders(stack.imap("carol"))).map((f) => f.path), ["INBOX"]);
    assert.equal(component.logs.filter(stored("carol", "chat")).length, 0);
  });

  test("a room message lands once in each local occupant's room folder, also with two joined resources", async () => {
    const alice = await client("alice", "muc");
    const bob = await client("bob", "muc");
    const bobPhone = await client("bob", "muc-phone");
    for (const [c, nick] of [[alice, "Alice"], [bob, "Bobby"], [bobPhone, "Bobby"]] as const) {
      await c.send(xml("presence", { to: `${ROOM}/${nick}` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
      await c.waitForStanza((s) => s.is("presence") && s.attrs.from === `${ROOM}/${nick}` && s.attrs.type !== "error");
    }
    const seen = copiesSeen();
    await alice.send(xml("message", { to: ROOM, type: "groupchat", id: "g1" }, xml("body", {}, "hello room")));
    for (const c of [alice, bob, bobPhone]) await c.waitForStanza((s) => s.attrs.type === "groupchat" && s.getChildText("body") === "hello room");
    await waitForEmptyOutbox(stack.ejabberd);
    for (const user of ["alice", "bob"]) {
      const room = await waitForMailbox(mailbox(user, "Chats.lounge"), withSubject("hello room"));
      assert.equal(room.length, 1, `${user}: once`);
      const parsed = await simpleParser(room[0]!.source);
      assert.equal(parsed.from?.value[0]?.name, "Alice");
      assert.equal(parsed.from?.value[0]?.address, ROOM);
      assert.deepEqual(stateFlags(room[0]), ["$XMPP", "$XMPPChat", "$XMPPGroupChat", "\\Seen"]);
    }
    // The room delivers to each of bob's resources; the module copies once per user (the
    // component would also drop a repeat by Message-ID, so count the copies, not the mails).
    assert.equal(copiesSeen(), seen + 2, "one copy for alice, one for bob's two resources");
    assert.equal(component.logs.filter(stored("bob", "groupchat")).length, 1);
    assert.equal(component.logs.filter(stored("alice", "sent")).filter((l) => String(l.folder ?? "").includes("lounge")).length, 0);
  });
});
