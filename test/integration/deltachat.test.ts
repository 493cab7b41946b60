// Chat history as Delta Chat reads it, end to end, once per XMPP server: real XMPP clients send
// through a real Prosody (with its MUC) or ejabberd, our module copies, the real component
// archives into the Chats folders of a real Dovecot, and the real Delta Chat core (2.57, the npm
// packages in harness/deltachat.ts) reads those folders over IMAP, logged in as the same mail
// user (SMTP AUTH through Postfix and Dovecot's auth socket, as Delta Chat insists). We assert on
// what Delta Chat's JSON-RPC answers: a correction applied in place, reactions on the message,
// room speakers by name, the user's own messages (one-to-one and in rooms) as outgoing.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { xml } from "@xmpp/client";
import type { T } from "@deltachat/jsonrpc-client";
import type { ComponentProcess } from "../../harness/component.js";
import { startDeltaChatClient, type DeltaChatClient, type DeltaChatProfile } from "../../harness/deltachat.js";
import { onServers } from "../../harness/generation.js";
import { listMailbox } from "../../harness/imap.js";
import { startPostfix, type PostfixServer } from "../../harness/mta.js";
import { DOMAIN, SERVER_KINDS, startStack, type AnyStack } from "../../harness/stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";

const MUC = `conference.${DOMAIN}`;
const ROOM = `lounge@${MUC}`;
/** Delta Chat's ContactId::SELF: a message from it is outgoing (core src/contact.rs). */
const SELF = 1;
/** DC_STATE_OUT_DELIVERED and up are outgoing states; 10–16 are incoming. */
const isOutgoing = (m: T.Message) => m.fromId === SELF && m.state >= 18;
const NS_REACTIONS = "urn:xmpp:reactions:0";
const reactions = (id: string, ...emojis: string[]) => xml("reactions", { xmlns: NS_REACTIONS, id }, ...emojis.map((e) => xml("reaction", {}, e)));

for (const kind of SERVER_KINDS) {
  const ejabberd = kind === "ejabberd";
  describe(onServers(`Delta Chat core reads the Chats folders the component writes through a real ${ejabberd ? "ejabberd" : "Prosody"}`), () => {
    let dir: string;
    let stack: AnyStack;
    let postfix: PostfixServer;
    let component: ComponentProcess;
    let dc: DeltaChatClient;
    let chats: DeltaChatProfile;
    let room: DeltaChatProfile;
    const clients: TestClient[] = [];
    const client = async (username: string, resource: string) => {
      const c = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username, password: stack.password, resource });
      clients.push(c);
      return c;
    };
    const profile = (folder: string) =>
      dc.addProfile({ addr: `bob@${DOMAIN}`, password: stack.password, imapPort: stack.dovecot.imapPort, smtpPort: postfix.smtpPort, imapFolder: folder });
    const byText = (messages: T.Message[], text: string) => messages.filter((m) => m.text === text);

    before(async () => {
      dir = await makeTempDir(ejabberd ? "xmd-dc-ejabberd-" : "xmd-dc-");
      stack = await startStack({
        dir,
        users: ["alice", "bob"],
        server: kind,
        module: { chatHistory: true, groupchat: true },
        prosodyHostConfig: [`Component "${MUC}" "muc"`, "muc_room_locking = false"],
        dovecot: { lmtp: true, smtpAuth: true },
      });
      postfix = await startPostfix({ dir: path.join(dir, "postfix"), lmtpPort: stack.dovecot.lmtpPort!, relayDomains: [DOMAIN], saslPath: stack.dovecot.authSocketPath });
      component = stack.component({ args: ["--chat-history", "--groupchat"] });
      await component.waitForLog((l) => l.msg === "connected to the XMPP server");
      // The folders exist before Delta Chat looks for them; it fetches only what arrives later.
      for (const folder of ["Chats", "Chats.lounge"]) await stack.dovecot.doveadm(["mailbox", "create", "-s", "-u", `bob@${DOMAIN}`, folder]);
      dc = startDeltaChatClient(path.join(dir, "deltachat"));
      chats = await profile("Chats");
      room = await profile("Chats.lounge");
    });

    after(async () => {
      for (const c of clients) await c.stop();
      await dc?.stop();
      const code = await component?.stop("SIGTERM");
      await postfix?.stop();
      await stack?.stop();
      await removeDir(dir);
      assert.equal(code, 0, `component exits 0 on SIGTERM; stderr: ${component?.stderr()}`);
    });

    test("a one-to-one chat: the correction is applied in place, reactions show on the message (and go when taken back), bob's own messages are outgoing", async () => {
      const alice = await client("alice", "dc");
      const bob = await client("bob", "dc");
      await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "meet at the statoin", id: "fix-1" });
      await bob.waitForStanza((s) => s.getChildText("body") === "meet at the statoin");
      await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "meet at the station", id: "fix-2", extra: xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "fix-1" }) });
      await bob.waitForStanza((s) => s.getChildText("body") === "meet at the station");
      await bob.sendMessage({ to: `alice@${DOMAIN}`, body: "lunch first?", id: "lunch-1" });
      await alice.waitForStanza((s) => s.getChildText("body") === "lunch first?");
      // XEP-0444 §3: type chat, no body; each stanza carries the sender's whole set of reactions.
      await alice.send(xml("message", { to: `bob@${DOMAIN}`, type: "chat", id: "re-1" }, reactions("lunch-1", "🎉")));
      await bob.send(xml("message", { to: `alice@${DOMAIN}`, type: "chat", id: "re-2" }, reactions("fix-1", "👍")));
      await bob.waitForStanza((s) => s.getChild("reactions", NS_REACTIONS)?.attrs.id === "lunch-1");

      const seen = await chats.waitForMessages(
        (ms) => byText(ms, "meet at the station").length === 1 && byText(ms, "lunch first?").length === 1,
        "the corrected text and bob's message",
      );
      const [fixed] = byText(seen, "meet at the station");
      assert.ok(fixed);
      assert.equal(fixed.isEdited, true, "Delta Chat applied the Chat-Edit");
      assert.equal(byText(seen, "meet at the statoin").length, 0, "the original's text is gone: one message, edited");
      assert.equal(seen.filter((m) => m.sender.address === `alice@${DOMAIN}` && /meet at the/.test(m.text)).length, 1, "the correction is not a second message");
      assert.equal(fixed.fromId === SELF, false);
      const [lunch] = byText(seen, "lunch first?");
      assert.ok(lunch && isOutgoing(lunch), `bob's own message is outgoing: ${JSON.stringify({ fromId: lunch?.fromId, state: lunch?.state })}`);
      assert.equal(seen.some((m) => /🎉|👍/.test(m.text)), false, "reactions are not messages");

      const context = async () =>
        JSON.stringify({
          component: component.logs.filter((l) => l.msg !== "connected to the XMPP server").map((l) => [l.msg, l.user, l.id, l.reason, l.folder]),
          chats: (await listMailbox({ ...stack.imap("bob"), mailbox: "Chats" })).map((m) => [m.subject, m.flags]),
          deltachat: (await chats.messages()).map((m) => [m.text, m.chatId, m.fromId, m.state]),
        });
      const lunchReactions = await waitForReactions(dc, chats, lunch.id, (r) => r?.reactions.some((x) => x.emoji === "🎉") === true, context);
      assert.deepEqual(lunchReactions?.reactions.map((r) => [r.emoji, r.count, r.isFromSelf]), [["🎉", 1, false]]);
      const fixReactions = await waitForReactions(dc, chats, fixed.id, (r) => r?.reactions.some((x) => x.emoji === "👍") === true);
      assert.deepEqual(fixReactions?.reactions.map((r) => [r.emoji, r.isFromSelf]), [["👍", true]], "bob's own reaction, from self");

      // An empty <reactions/> takes them back (XEP-0444 §3); Delta Chat drops the reaction.
      await alice.send(xml("message", { to: `bob@${DOMAIN}`, type: "chat", id: "re-3" }, reactions("lunch-1")));
      await waitForReactions(dc, chats, lunch.id, (r) => !r || r.reactions.length === 0);

      // Every reaction mail is in Chats and \Seen: none is an unread mail in INBOX.
      const mails = await listMailbox({ ...stack.imap("bob"), mailbox: "Chats" });
      const reactionMails = mails.filter((m) => m.subject?.startsWith("Reaction"));
      assert.equal(reactionMails.length, 3);
      assert.ok(reactionMails.every((m) => m.flags.includes("\\Seen")));
      assert.equal((await listMailbox({ ...stack.imap("bob"), mailbox: "INBOX" })).length, 0);
    });

    test("a reaction to a message the archive does not have is logged and not stored", async () => {
      const alice = await client("alice", "dc-missing");
      const before = (await listMailbox({ ...stack.imap("bob"), mailbox: "Chats" })).length;
      await alice.send(xml("message", { to: `bob@${DOMAIN}`, type: "chat", id: "re-missing" }, reactions("no-such-id", "👀")));
      await component.waitForLog((l) => l.msg === "not archived" && l.id !== undefined && /does not have/.test(String(l.reason)) && l.user === `bob@${DOMAIN}`);
      assert.equal((await listMailbox({ ...stack.imap("bob"), mailbox: "Chats" })).length, before);
      assert.equal((await listMailbox({ ...stack.imap("bob"), mailbox: "INBOX" })).length, 0);
    });

    test("a room folder is one group in Delta Chat, each message named after its speaker, bob's own outgoing", async () => {
      const alice = await client("alice", "muc");
      const bob = await client("bob", "muc");
      for (const [c, nick] of [[alice, "Alice"], [bob, "Bobby"]] as const) {
        await c.send(xml("presence", { to: `${ROOM}/${nick}` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
        await c.waitForStanza((s) => s.is("presence") && s.attrs.from === `${ROOM}/${nick}` && s.attrs.type !== "error");
      }
      await alice.send(xml("message", { to: ROOM, type: "groupchat", id: "g1" }, xml("body", {}, "hello room")));
      await bob.waitForStanza((s) => s.attrs.type === "groupchat" && s.getChildText("body") === "hello room");
      await bob.send(xml("message", { to: ROOM, type: "groupchat", id: "g2" }, xml("body", {}, "hi from bob")));
      await bob.waitForStanza((s) => s.attrs.type === "groupchat" && s.getChildText("body") === "hi from bob");
      const seen = await room.waitForMessages((ms) => byText(ms, "hello room").length === 1 && byText(ms, "hi from bob").length === 1, "both room messages");
      const [hello] = byText(seen, "hello room");
      const [hi] = byText(seen, "hi from bob");
      assert.ok(hello && hi);
      assert.equal(hello.overrideSenderName, "Alice");
      assert.equal(hi.overrideSenderName, "Bobby");
      assert.equal(hello.chatId, hi.chatId, "one chat for the room");
      assert.ok(isOutgoing(hi), `bob's own room message is outgoing: ${JSON.stringify({ fromId: hi.fromId, state: hi.state })}`);
      assert.equal(hello.fromId === SELF, false, "alice's is not");
      const chat = await dc.rpc.getBasicChatInfo(room.accountId, hello.chatId);
      assert.equal(chat.name, "lounge");
      assert.equal(chat.chatType, "Group");
    });
  });
}

async function waitForReactions(dc: DeltaChatClient, profile: DeltaChatProfile, msgId: number, pred: (r: T.Reactions | null) => boolean, context: () => Promise<string> = () => Promise.resolve("")): Promise<T.Reactions | null> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await dc.rpc.getMessageReactions(profile.accountId, msgId);
    if (pred(r)) return r;
    if (Date.now() > deadline) throw new Error(`reactions on ${msgId}: ${JSON.stringify(r)}; ${await context()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
