// Chat history end to end, once per server: a real Prosody (with its bundled MUC) or ejabberd
// (with mod_muc), our module with chat history and group chat on, the real CLI with
// --chat-history --groupchat as the mail user, real XMPP clients, and everything read back through
// a real Dovecot over IMAP. Each scenario runs on both; where a server routes something the other
// does not (ejabberd's carbons, several joined resources in a room), the scenario checks that too.
import { after, before, describe, test } from "node:test";
import { onServers } from "../../harness/generation.js";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { simpleParser } from "mailparser";
import { xml } from "@xmpp/client";
import type { ComponentProcess, LogLine } from "../../harness/component.js";
import { waitForEmptyOutbox } from "../../harness/ejabberd.js";
import { listMailbox, type ListedMessage } from "../../harness/imap.js";
import { listFolders, waitForMailbox } from "../../harness/imap-folders.js";
import { DOMAIN, SERVER_KINDS, startStack, type AnyStack, type ServerKind } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";
import { parseStanza } from "../support/stanzas.js";

const SERVER_NAMES: Record<ServerKind, string> = { prosody: "Prosody", ejabberd: "ejabberd" };
const CHAT_ARGS = ["--chat-history", "--groupchat"];

/**
 * A stanza from the client corpus, addressed anew: the client's own from is left to the server to
 * stamp (RFC 6120 §8.1.2.1), everything else goes out as the client sent it.
 */
function corpusStanza(file: string, to: string, id: string) {
  const text = readFileSync(new URL(`../../../test/fixtures/clients/${file}`, import.meta.url), "utf8").replace(/^<!--[\s\S]*?-->\s*/, "");
  const stanza = parseStanza(text);
  delete stanza.attrs.from;
  stanza.attrs.to = to;
  stanza.attrs.id = id;
  // The same ltx Element at run time (package.json pins one ltx); only the two packages' typings differ.
  return stanza as unknown as Parameters<TestClient["send"]>[0];
}
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

for (const kind of SERVER_KINDS) {
  const name = SERVER_NAMES[kind];
  const ejabberd = kind === "ejabberd";

  describe(onServers(`chat history through a real ${name} into Maildir folders that Dovecot serves`), () => {
    let dir: string;
    let stack: AnyStack;
    let component: ComponentProcess;
    const clients: TestClient[] = [];
    const client = async (username: string, resource = "laptop") => {
      const c = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username, password: stack.password, resource });
      clients.push(c);
      return c;
    };
    const mailbox = (user: string, folder = "INBOX") => ({ ...stack.imap(user), mailbox: folder });
    /** Copies the component handled (each logs one line with the copy's IQ id before confirming it). */
    const copiesSeen = () => component.logs.filter((l) => typeof l.id === "string" && l.id.startsWith("xmd-")).length;
    /** ejabberd: every copy confirmed, so counting the component's log lines is final. */
    const settled = async () => {
      if (stack.kind === "ejabberd") await waitForEmptyOutbox(stack.ejabberd);
    };
    /** The resource a test logs in with on ejabberd, where earlier tests' sessions may still be open. */
    const res = (resource: string) => (ejabberd ? resource : "laptop");

    before(async () => {
      dir = await makeTempDir(ejabberd ? "xmd-ejabberd-chat-" : "xmd-chat-");
      stack = await startStack({
        dir,
        // dave never logs in: what is sent to him is stored offline.
        users: ["alice", "bob", "carol", "dave"],
        server: kind,
        module: { chatHistory: true, groupchat: true },
        // Prosody config sections follow one another: this ends the VirtualHost section the
        // harness opened and adds Prosody's bundled MUC as its own component host, before the
        // harness's Component line for the archive. Rooms are usable as soon as they are created
        // (no XEP-0045 §10.1.2 configuration step). ejabberd's mod_muc is in its base modules.
        prosodyHostConfig: [`Component "${MUC}" "muc"`, "muc_room_locking = false"],
      });
      component = stack.component({ args: CHAT_ARGS });
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    });

    after(async () => {
      for (const c of clients) await c.stop();
      const code = await component?.stop("SIGTERM");
      const serverErrors = (await stack?.serverErrors()) ?? [];
      await stack?.stop();
      await removeDir(dir);
      assert.equal(code, 0, `component exits 0 on SIGTERM; stderr: ${component?.stderr()}`);
      assert.deepEqual(serverErrors, [], `no errors from our module (or any other) in ${name}'s log`);
    });

    test("a chat between two online local users lands in both users' Chats folders once, Seen, with keywords and chat headers (and carbons on ejabberd)", async () => {
      const alice = await client("alice");
      const bob = await client("bob");
      // ejabberd: a second resource each, with carbons; ejabberd routes the carbons, which must not be copied.
      const phones = ejabberd ? [await client("alice", "phone"), await client("bob", "phone")] : [];
      for (const c of ejabberd ? [alice, bob, ...phones] : []) await c.client.iqCaller.request(xml("iq", { type: "set" }, xml("enable", { xmlns: "urn:xmpp:carbons:2" })));
      const seen = copiesSeen();
      await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "lunch at noon?", id: "c1", extra: xml("origin-id", { xmlns: "urn:xmpp:sid:0", id: "c1" }) });
      await bob.waitForStanza((s) => s.getChildText("body") === "lunch at noon?");
      await bob.sendMessage({ to: `alice@${DOMAIN}`, body: "sure, see you", id: "c2" });
      await alice.waitForStanza((s) => s.getChildText("body") === "sure, see you");
      // Messages to a bare JID reach both resources of equal priority; what alice sent from her
      // laptop reaches her phone as a carbon, routed through ejabberd_sm like any message.
      for (const phone of phones) await phone.waitForStanza((s) => s.getChild("sent", "urn:xmpp:carbons:2") !== undefined);

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
        assert.deepEqual(chats.map((m) => m.from), [`alice@${DOMAIN}`, `bob@${DOMAIN}`], `${user}: what alice sent and what bob sent`);
      }
      await settled();
      if (ejabberd) assert.equal(copiesSeen(), seen + 4, "sent + chat for each message; no copies of carbons");
      assert.equal(component.logs.filter(stored("alice", "sent")).length, 1);
      assert.equal(component.logs.filter(stored("bob", "chat")).length, 1);
      const folders = await listFolders(stack.imap("alice"));
      assert.ok(folders.some((f) => f.path === "Chats" && f.subscribed), `Chats is listed and subscribed: ${JSON.stringify(folders)}`);
      assert.equal((await listMailbox(mailbox("alice"))).length, 0, "nothing live went to INBOX");
      for (const phone of phones) await phone.stop();
    });

    test("a chat that asks not to be stored (XEP-0334) is delivered but not archived, and typing notifications are not copied", async () => {
      const alice = await client("alice", res("ns"));
      const bob = await client("bob", res("ns"));
      const seen = copiesSeen();
      const handled = () => component.logs.filter((l) => l.msg === "stored" || l.msg === "not archived").length;
      const handledBefore = handled();
      await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "off the record", id: "ns-1", extra: xml("no-store", { xmlns: "urn:xmpp:hints" }) });
      await alice.send(xml("message", { to: `bob@${DOMAIN}`, type: "chat", id: "ns-2" }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" })));
      await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "on the record", id: "ns-3" });
      await bob.waitForStanza((s) => s.getChildText("body") === (ejabberd ? "on the record" : "off the record"));
      for (const user of ["alice", "bob"]) {
        const chats = await waitForMailbox(mailbox(user, "Chats"), withSubject("on the record"));
        assert.ok(!chats.some((m) => m.subject === "off the record"), user);
      }
      // Exactly the two copies of "on the record" reached the component: nothing for ns-1 or ns-2.
      if (ejabberd) {
        await settled();
        assert.equal(copiesSeen(), seen + 2, "the two copies of 'on the record', nothing for ns-1 or ns-2");
      } else {
        await component.waitForLog(stored("bob", "chat", (l) => l.id !== undefined && handled() >= handledBefore + 2));
        assert.equal(handled(), handledBefore + 2);
      }
    });

    // XEP-0308 corrections are routed the same way by both servers; this checks our rendering.
    if (!ejabberd) {
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
    }

    test("an offline chat stays unseen in INBOX; the recipient's displayed marker and receipt flag it; redelivery at login is not a new chat", async () => {
      const bob = await client("bob", res("offline"));
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
      await settled();
      if (!ejabberd) assert.ok(component.logs.some((l) => l.msg === "marked" && l.result === "updated" && l.user === `carol@${DOMAIN}`));
      assert.equal((await listMailbox(mailbox("carol"))).length, 1, "markers write no mail");
      // Nothing carol sent had a body, and mod_offline's delivery at login is not a new live chat.
      assert.deepEqual((await listFolders(stack.imap("carol"))).map((f) => f.path), ["INBOX"]);
      if (ejabberd) assert.equal(component.logs.filter(stored("carol", "chat")).length, 0);
    });

    test("a room message lands once in each local occupant's room folder, from the nick (also with two joined resources on ejabberd)", async () => {
      const alice = await client("alice", res("muc"));
      const bob = await client("bob", res("muc"));
      const occupants: Array<readonly [TestClient, string]> = [[alice, "Alice"], [bob, "Bobby"]];
      if (ejabberd) occupants.push([await client("bob", "muc-phone"), "Bobby"]);
      for (const [c, nick] of occupants) {
        await c.send(xml("presence", { to: `${ROOM}/${nick}` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
        await c.waitForStanza((s) => s.is("presence") && s.attrs.from === `${ROOM}/${nick}` && (!ejabberd || s.attrs.type !== "error"));
      }
      const seen = copiesSeen();
      await alice.send(xml("message", { to: ROOM, type: "groupchat", id: "g1" }, xml("body", {}, "hello room")));
      for (const [c] of occupants) await c.waitForStanza((s) => s.attrs.type === "groupchat" && s.getChildText("body") === "hello room");
      await settled();
      for (const user of ["alice", "bob"]) {
        const room = await waitForMailbox(mailbox(user, "Chats.lounge"), withSubject("hello room"));
        assert.equal(room.length, 1, `${user}: once`);
        const parsed = await simpleParser(room[0]!.source);
        assert.equal(parsed.from?.value[0]?.name, "Alice");
        // alice's own message, reflected to her, is from her own address (the module marks it own).
        assert.equal(parsed.from?.value[0]?.address, user === "alice" ? `alice@${DOMAIN}` : ROOM);
        if (!ejabberd) {
          assert.equal(parsed.headers.get("chat-group-id"), ROOM);
          assert.equal(parsed.headers.get("chat-group-name"), "lounge");
        }
        assert.deepEqual(stateFlags(room[0]), ["$XMPP", "$XMPPChat", "$XMPPGroupChat", "\\Seen"]);
      }
      if (ejabberd) {
        // The room delivers to each of bob's resources; the module copies once per user (the
        // component would also drop a repeat by Message-ID, so count the copies, not the mails).
        assert.equal(copiesSeen(), seen + 2, "one copy for alice, one for bob's two resources");
        assert.equal(component.logs.filter(stored("bob", "groupchat")).length, 1);
        assert.equal(component.logs.filter(stored("alice", "sent")).filter((l) => String(l.folder ?? "").includes("lounge")).length, 0);
      } else {
        const folders = await listFolders(stack.imap("bob"));
        assert.ok(folders.some((f) => f.path === "Chats.lounge" && f.subscribed), JSON.stringify(folders));
      }
    });

    test("an OMEMO message as Conversations sends it, to an offline user: named as encrypted, with its header and keyword, the stanza kept", async () => {
      const bob = await client("bob", res("omemo"));
      await bob.send(corpusStanza("conversations-omemo.xml", `dave@${DOMAIN}`, "omemo-1"));
      await component.waitForLog(stored("dave", "offline"));
      const [mail] = await waitForMailbox(mailbox("dave"), (m) => m.length === 1);
      assert.ok(mail);
      assert.equal(mail.subject, "Encrypted message (OMEMO)");
      assert.deepEqual(stateFlags(mail), ["$XMPP", "$XMPPChat", "$XMPPEncrypted", "$XMPPOffline"]);
      const parsed = await simpleParser(mail.source);
      assert.equal(parsed.headers.get("x-xmpp-encryption"), "OMEMO");
      assert.match(parsed.text ?? "", /end-to-end encrypted \(OMEMO\)/);
      assert.doesNotMatch(parsed.text ?? "", /I sent you/);
      const part = parsed.attachments.find((a) => a.contentType === "application/xmpp+xml")?.content.toString("utf8") ?? "";
      assert.match(part, /<payload>n1Vb3ySjxU5vVq0Xg4c=<\/payload>/, "the ciphertext, as sent");
    });

    // Last in this suite: it restarts the component with other flags, and back.
    test("--encrypted skip: an encrypted copy is confirmed with a debug line and no mail; a plain one is still stored", async () => {
      assert.equal(await component.stop("SIGTERM"), 0);
      component = stack.component({ args: [...CHAT_ARGS, "--encrypted", "skip"] });
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
      const before = (await listMailbox(mailbox("dave"))).length;
      const bob = await client("bob", res("omemo-skip"));
      await bob.send(corpusStanza("conversations-omemo.xml", `dave@${DOMAIN}`, "omemo-skip-1"));
      await component.waitForLog((l) => l.msg === "not archived" && /--encrypted skip/.test(String(l.reason)));
      await bob.sendMessage({ to: `dave@${DOMAIN}`, body: "plain after the skipped one", id: "plain-1" });
      await component.waitForLog(stored("dave", "offline"));
      await settled();
      const after = await waitForMailbox(mailbox("dave"), withSubject("plain after the skipped one"));
      assert.equal(after.length, before + 1, "only the plain message was added");
      assert.equal(after.filter((m) => m.subject?.startsWith("Encrypted message")).length, before, "no new encrypted mail");
      assert.equal(component.logs.filter((l) => l.level >= 50).length, 0, "nothing logged as an error");
      assert.equal(await component.stop("SIGTERM"), 0);
      component = stack.component({ args: CHAT_ARGS });
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    });
  });
}
