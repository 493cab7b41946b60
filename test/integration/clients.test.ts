// Replies (XEP-0461), moderation (XEP-0425) and a sample of the client corpus
// (test/fixtures/clients/) end to end, once per server: a real Prosody (with its bundled MUC and
// muc_mam) or ejabberd (mod_muc with MAM on in rooms), our module with chat history and group chat
// on, the real CLI, real XMPP clients, and the mail read back through a real Dovecot over IMAP.
//
// Moderation: where the room itself implements XEP-0425 (it advertises urn:xmpp:message-moderate:*
// in disco#info: ejabberd 24+), a real moderator client asks the room to retract a message and the
// room's own broadcast is archived. Where it does not (Prosody 0.12 and 13 ship no
// mod_muc_moderation; ejabberd 23.01's mod_muc has none), a test-owned XEP-0114 component plays a
// room on another service: it sends a room message and then the moderation exactly as
// mod_muc_moderation broadcasts it (test/fixtures/clients/prosody-muc-moderation.xml) to the local
// occupant, so the stanza travels the real server path (component → router → c2s session, where
// our module copies it).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { simpleParser, type ParsedMail } from "mailparser";
import { component as xmppComponent } from "@xmpp/component";
import { xml } from "@xmpp/client";
import { onServers } from "../../harness/generation.js";
import type { ComponentProcess, LogLine } from "../../harness/component.js";
import { waitForEmptyOutbox } from "../../harness/ejabberd.js";
import { listMailbox, type ListedMessage } from "../../harness/imap.js";
import { waitForMailbox } from "../../harness/imap-folders.js";
import { DOMAIN, SERVER_KINDS, startStack, type AnyStack, type ServerKind } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";
import { parseStanza } from "../support/stanzas.js";

const SERVER_NAMES: Record<ServerKind, string> = { prosody: "Prosody", ejabberd: "ejabberd" };
const MUC = `conference.${DOMAIN}`;
const ROOM = `lounge@${MUC}`;
/** The test's own XEP-0114 component: a room service on "another server", for injected moderation. */
const REMOTE_MUC = `rooms.${DOMAIN}`;
const REMOTE_ROOM = `modroom@${REMOTE_MUC}`;
const NS_MODERATE_0 = "urn:xmpp:message-moderate:0";
const NS_MODERATE_1 = "urn:xmpp:message-moderate:1";

/** A corpus stanza with its source comment removed; `edit` rewrites addresses and ids. */
function corpus(file: string, edit: (text: string) => string = (t) => t) {
  const text = readFileSync(new URL(`../../../test/fixtures/clients/${file}`, import.meta.url), "utf8").replace(/^<!--[\s\S]*?-->\s*/, "");
  const stanza = parseStanza(edit(text).replaceAll("example.org", DOMAIN));
  // The same ltx Element at run time (package.json pins one ltx); only the two packages' typings differ.
  return stanza as unknown as Parameters<TestClient["send"]>[0];
}
/** For the test's component: the same element, typed as @xmpp/component's send() takes it. */
function roomStanza(file: string, edit: (text: string) => string) {
  return corpus(file, edit) as unknown as Parameters<ReturnType<typeof xmppComponent>["send"]>[0];
}
/** As the client sends it: the server stamps from (RFC 6120 §8.1.2.1). */
function asSent(file: string, to: string, edit?: (text: string) => string) {
  const stanza = corpus(file, edit);
  delete stanza.attrs.from;
  stanza.attrs.to = to;
  return stanza;
}

const byId = (messages: ListedMessage[], id: string) => messages.find((m) => m.messageId === id);
const parsedAll = (messages: ListedMessage[]) => Promise.all(messages.map((m) => simpleParser(m.source)));
/** A Subject is the first line cut at 60 characters, with "…" (src/mail/render.ts). */
const cut = (subject: string) => (subject.length > 60 ? `${[...subject].slice(0, 60).join("")}…` : subject);
const bySubject = async (messages: ListedMessage[], subject: string): Promise<ParsedMail> => {
  const found = messages.find((m) => m.subject === cut(subject));
  assert.ok(found, `a mail with subject ${JSON.stringify(subject)} among ${messages.map((m) => JSON.stringify(m.subject)).join(", ")}`);
  return simpleParser(found.source);
};

for (const kind of SERVER_KINDS) {
  const name = SERVER_NAMES[kind];
  const ejabberd = kind === "ejabberd";

  describe(onServers(`replies, moderation and the client corpus through a real ${name}`), () => {
    let dir: string;
    let stack: AnyStack;
    let component: ComponentProcess;
    const clients: TestClient[] = [];
    const remoteSecret = randomBytes(12).toString("hex");
    const client = async (username: string, resource: string) => {
      const c = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username, password: stack.password, resource });
      clients.push(c);
      return c;
    };
    const mailbox = (user: string, folder = "INBOX") => ({ ...stack.imap(user), mailbox: folder });
    const settled = async () => {
      if (stack.kind === "ejabberd") await waitForEmptyOutbox(stack.ejabberd);
    };
    const join = async (c: TestClient, room: string, nick: string) => {
      await c.send(xml("presence", { to: `${room}/${nick}` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
      await c.waitForStanza((s) => s.is("presence") && s.attrs.from === `${room}/${nick}` && s.attrs.type !== "error");
    };

    before(async () => {
      dir = await makeTempDir(ejabberd ? "xmd-ejabberd-clients-" : "xmd-clients-");
      stack = await startStack({
        dir,
        users: ["alice", "bob", "dave"],
        server: kind,
        module: { chatHistory: true, groupchat: true },
        // Prosody's bundled MUC with muc_mam, which gives every room message its XEP-0359
        // stanza-id (what room replies and moderation name).
        prosodyHostConfig: [`Component "${MUC}" "muc"`, "muc_room_locking = false", `modules_enabled = { "muc_mam" }`],
        // ejabberd adds the stanza-id (and keeps the archive moderation needs) only in rooms with MAM on.
        ejabberdModules: { mod_muc: { default_room_options: { mam: true } } },
        extraComponents: { [REMOTE_MUC]: remoteSecret },
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
      assert.deepEqual(serverErrors, [], `no errors from our module (or any other) in ${name}'s log`);
    });

    test("a one-to-one reply as Dino sends it: In-Reply-To the replied message in both users' archives, the quote shown once", async () => {
      const alice = await client("alice", "reply");
      const bob = await client("bob", "reply");
      // alice's Dino message, then bob's Dino reply naming its id (dino-reply.xml replies to dino-reply-original.xml).
      await alice.send(asSent("dino-reply-original.xml", `bob@${DOMAIN}`));
      await bob.waitForStanza((s) => s.getChildText("body") === "We should bake a cake");
      // A person reads before replying: the original is archived by then. (Copies that arrive out
      // of order, a reply before its original, are stored without the link; docs/chat-history.md.)
      for (const user of ["alice", "bob"]) await waitForMailbox(mailbox(user, "Chats"), (m) => m.some((x) => x.subject === "We should bake a cake"));
      await bob.send(asSent("dino-reply.xml", `alice@${DOMAIN}`, (t) => t.replace("alice@example.org/laptop", `alice@${DOMAIN}/reply`)));
      await alice.waitForStanza((s) => s.getChild("reply", "urn:xmpp:reply:0") !== undefined);
      for (const user of ["alice", "bob"]) {
        const chats = await waitForMailbox(mailbox(user, "Chats"), (m) => m.some((x) => x.subject === "Great idea! 🎂") && m.some((x) => x.subject === "We should bake a cake"));
        const original = chats.find((m) => m.subject === "We should bake a cake")!;
        const reply = await bySubject(chats, "Great idea! 🎂");
        assert.equal(reply.inReplyTo, original.messageId, `${user}: In-Reply-To`);
        assert.ok([reply.references ?? []].flat().includes(original.messageId!), `${user}: References`);
        assert.equal(reply.text?.trimEnd(), "> We should bake a cake\nGreat idea! 🎂", user);
      }
    });

    test("a reply in a room names the room's stanza-id: In-Reply-To the room message in each occupant's room folder", async () => {
      const alice = await client("alice", "room");
      const bob = await client("bob", "room");
      await join(alice, ROOM, "Alice");
      await join(bob, ROOM, "Bobby");
      await alice.send(xml("message", { to: ROOM, type: "groupchat", id: "lunch-1" }, xml("body", {}, "lunch at noon?")));
      const seen = await bob.waitForStanza((s) => s.attrs.type === "groupchat" && s.getChildText("body") === "lunch at noon?");
      const stanzaId = seen.getChildren("stanza-id", "urn:xmpp:sid:0").find((e) => e.attrs.by === ROOM)?.attrs.id;
      assert.ok(stanzaId, `the room gives its messages a stanza-id: ${seen.toString()}`);
      await settled();
      for (const user of ["alice", "bob"]) await waitForMailbox(mailbox(user, "Chats.lounge"), (m) => m.some((x) => x.subject === "lunch at noon?"));
      // bob's Dino replies as in dino-reply-groupchat.xml: to the occupant, by the room's stanza-id.
      await bob.send(
        asSent("dino-reply-groupchat.xml", ROOM, (t) =>
          t.replace('to="lounge@conference.example.org/carol" id="Qx7Zk2mV9pRt"', `to="${ROOM}/Alice" id="${stanzaId}"`).replace(/<stanza-id [^>]*\/>/, ""),
        ),
      );
      await alice.waitForStanza((s) => s.attrs.type === "groupchat" && s.getChild("reply", "urn:xmpp:reply:0") !== undefined);
      await settled();
      for (const user of ["alice", "bob"]) {
        const room = await waitForMailbox(mailbox(user, "Chats.lounge"), (m) => m.some((x) => x.subject === "count me in") && m.some((x) => x.subject === "lunch at noon?"));
        const original = room.find((m) => m.subject === "lunch at noon?")!;
        const reply = await bySubject(room, "count me in");
        assert.equal(reply.inReplyTo, original.messageId, `${user}: In-Reply-To`);
        assert.equal(reply.text?.trimEnd(), "> lunch at noon?\ncount me in", user);
        assert.match(String((await simpleParser(original.source)).headers.get("x-xmpp-stanza-id")), new RegExp(`^${stanzaId}; by=${ROOM}$`));
      }
    });

    test("a moderator's retraction is marked like a retraction (Chat-Delete, In-Reply-To) in the occupants' room folder; the original stays", async (t) => {
      const alice = await client("alice", "mod");
      const bob = await client("bob", "mod");
      // Does the server's own MUC implement XEP-0425? Ask the room it runs.
      await join(alice, ROOM, "Alice2");
      await join(bob, ROOM, "Bobby2");
      const info = await alice.client.iqCaller.request(xml("iq", { type: "get", to: ROOM }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
      const features = new Set(info.getChild("query")?.getChildren("feature").map((f) => String(f.attrs.var)));
      const real = features.has(NS_MODERATE_1) || features.has(NS_MODERATE_0);
      if (real) {
        // A real moderator: alice created the room, so she owns it and holds the moderator role.
        await bob.send(xml("message", { to: ROOM, type: "groupchat", id: "spam-1" }, xml("body", {}, "buy cheap watches")));
        const spam = await alice.waitForStanza((s) => s.attrs.type === "groupchat" && s.getChildText("body") === "buy cheap watches");
        await settled();
        for (const user of ["alice", "bob"]) await waitForMailbox(mailbox(user, "Chats.lounge"), (m) => m.some((x) => x.subject === "buy cheap watches"));
        const stanzaId = spam.getChildren("stanza-id", "urn:xmpp:sid:0").find((e) => e.attrs.by === ROOM)?.attrs.id;
        assert.ok(stanzaId, spam.toString());
        const request = features.has(NS_MODERATE_1)
          ? xml("moderate", { xmlns: NS_MODERATE_1, id: stanzaId }, xml("retract", { xmlns: "urn:xmpp:message-retract:1" }), xml("reason", {}, "Spam"))
          : xml("apply-to", { xmlns: "urn:xmpp:fasten:0", id: stanzaId }, xml("moderate", { xmlns: NS_MODERATE_0 }, xml("retract", { xmlns: "urn:xmpp:message-retract:0" }), xml("reason", {}, "Spam")));
        await alice.client.iqCaller.request(xml("iq", { type: "set", to: ROOM }, request));
        const announced = await bob.waitForStanza((s) => s.attrs.type === "groupchat" && s.attrs.from === ROOM && (s.getChild("retract", "urn:xmpp:message-retract:1") ?? s.getChild("apply-to", "urn:xmpp:fasten:0")) !== undefined);
        t.diagnostic(`${name}'s room announced: ${announced.toString()}`);
        await settled();
        for (const user of ["alice", "bob"]) {
          const room = await waitForMailbox(mailbox(user, "Chats.lounge"), (m) => m.some((x) => x.subject?.startsWith("(A moderator") === true) && m.some((x) => x.subject === "buy cheap watches"));
          const original = room.find((m) => m.subject === "buy cheap watches")!;
          const marked = (await parsedAll(room)).find((p) => p.subject?.startsWith("(A moderator"))!;
          assert.equal(marked.headers.get("chat-delete"), original.messageId, user);
          assert.equal(marked.inReplyTo, original.messageId, user);
          assert.match(marked.text ?? "", /retracted an earlier message in this room\. Reason: Spam/);
        }
        return;
      }
      t.diagnostic(`${name}'s MUC does not advertise XEP-0425 (features: ${[...features].filter((f) => f.includes("moderat") || f.includes("retract")).join(", ") || "none"}): moderation injected through a test component`);
      const room = xmppComponent({ service: `xmpp://127.0.0.1:${stack.server.componentPort}`, domain: REMOTE_MUC, password: remoteSecret });
      room.on("error", () => {});
      await room.start();
      try {
        const to = alice.jid;
        // The room message (room-message.xml) and then the moderation (prosody-muc-moderation.xml), as the room sends them.
        await room.send(roomStanza("room-message.xml", (x) => x.replace('to="alice@example.org/laptop"', `to="${to}"`).replaceAll("lounge@conference.example.org", REMOTE_ROOM)));
        await alice.waitForStanza((s) => s.attrs.from === `${REMOTE_ROOM}/carol` && s.getChildText("body") === "lunch at noon?");
        // A moderator acts after reading: the message is archived by then (the component stores copies in parallel).
        await settled();
        await waitForMailbox(mailbox("alice", "Chats.modroom"), (m) => m.some((x) => x.subject === "lunch at noon?"));
        await room.send(roomStanza("prosody-muc-moderation.xml", (x) => x.replace('to="alice@example.org/laptop"', `to="${to}"`).replaceAll("lounge@conference.example.org", REMOTE_ROOM)));
        await alice.waitForStanza((s) => s.attrs.from === REMOTE_ROOM && s.getChild("apply-to", "urn:xmpp:fasten:0") !== undefined);
      } finally {
        await room.stop().catch(() => undefined);
      }
      await settled();
      const folder = await waitForMailbox(mailbox("alice", "Chats.modroom"), (m) => m.length >= 2);
      assert.equal(folder.length, 2, "the room message and the moderation, once each");
      const original = folder.find((m) => m.subject === "lunch at noon?")!;
      const marked = await bySubject(folder, "(A moderator (mod) retracted an earlier message in this room. Reason: Spam)");
      assert.equal(marked.headers.get("chat-delete"), original.messageId);
      assert.equal(marked.inReplyTo, original.messageId);
      assert.ok(byId(folder, original.messageId!), "the original is kept");
    });

    test("a sample of the corpus to an offline user: each stored once in INBOX, replies with their quote once, the bad ones safely", async () => {
      const bob = await client("bob", "corpus");
      const sample: Array<[string, string]> = [
        ["kaidan-reply.xml", "Yes, at the station."],
        ["movim-reply.xml", "Great idea!"],
        ["conversations-correction.xml", "meet at the station"],
        ["monal-retraction.xml", "This person attempted to retract a previous message, but it's unsupported by your client."],
        ["conversations-file-share.xml", "https://share.example.test/upload/Zx3c/IMG_20261201_101010.jpg"],
        ["bad-reply-unknown-id.xml", "not me"],
        ["bad-reply-no-id.xml", "> quoted"],
      ];
      for (const [file] of sample) await bob.send(asSent(file, `dave@${DOMAIN}`));
      // The reaction: today confirmed without a mail (TODO deltachat branch: an RFC 9078 reaction).
      await bob.send(asSent("movim-reaction.xml", `dave@${DOMAIN}`));
      const inbox = await waitForMailbox(mailbox("dave"), (m) => m.length >= sample.length);
      await settled();
      assert.equal((await listMailbox(mailbox("dave"))).length, sample.length, "one mail each, nothing for the reaction");
      for (const [, subject] of sample) await bySubject(inbox, subject);
      assert.equal((await bySubject(inbox, "Yes, at the station.")).text?.trimEnd(), "> See you at 8?\nYes, at the station.");
      assert.equal((await bySubject(inbox, "not me")).text?.trimEnd(), "> who said this?\nnot me");
      assert.ok(component.logs.some((l: LogLine) => l.msg === "reply to a message the archive does not have; stored without In-Reply-To" && l.reply === "no-such-message-anywhere"));
    });
  });
}
