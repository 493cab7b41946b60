// Reactions between a real Delta Chat core and a real XMPP client, through the bridge: Carol's
// reaction in Delta Chat (an RFC 9078 mail) reaches alice as a XEP-0444 reaction to her own message;
// alice's XEP-0444 reaction to Carol's pushed message shows on that message in Delta Chat. A
// reaction mail naming a message of another conversation, or one never pushed, is not applied;
// an XMPP reaction to a message the bridge does not know gets a stanza error.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import nodemailer from "nodemailer";
import type { T } from "@deltachat/jsonrpc-client";
import { onServers } from "../../harness/generation.js";
import { SERVER_KINDS, type ServerKind } from "../../harness/stack.js";
import { pollUntil } from "../../harness/poll.js";
import { COMPONENT, REMOTE_DOMAIN } from "../../harness/smtp-stack.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import type { Element } from "../../harness/xmpp-client.js";
import { ALICE, CAROL_JID, NS_REACTIONS, startDeltaChatBridge, type DeltaChatBridge } from "../support/deltachat-bridge.js";

const NAMES: Record<ServerKind, string> = { prosody: "Prosody", ejabberd: "ejabberd" };
const DAVE = `dave@${REMOTE_DOMAIN}`;
const DAVE_JID = `dave\\40${REMOTE_DOMAIN}@${COMPONENT}`;
const emojisOf = (s: Element) => s.getChild("reactions", NS_REACTIONS)!.getChildren("reaction").map((r) => r.getText());
const reactionTo = (id: string) => (s: Element) => s.is("message") && s.attrs.from === CAROL_JID && s.getChild("reactions", NS_REACTIONS)?.attrs.id === id;

for (const kind of SERVER_KINDS) {
  describe(onServers(`reactions between Delta Chat and XMPP through the bridge (${NAMES[kind]})`), () => {
    let dir: string;
    let b: DeltaChatBridge;
    let pushedHi: Element;
    let carolHi: T.Message;

    before(async () => {
      dir = await makeTempDir("xmd-react-");
      b = await startDeltaChatBridge(dir, { server: kind });
      // Carol writes first, in Delta Chat; alice's XMPP client gets it as a chat from Carol.
      const sent = await b.dc.rpc.miscSendTextMessage(b.carol.accountId, b.carolChat, "Hi Alice!");
      carolHi = await b.dc.rpc.getMessage(b.carol.accountId, sent);
      pushedHi = await b.alice.waitForStanza((s) => s.is("message") && s.attrs.from === CAROL_JID && s.attrs.type === "chat" && /Hi Alice!/.test(s.getChildText("body") ?? ""), 30_000);
    });

    after(async () => {
      await b?.stop();
      await removeDir(dir);
    });

    test("Carol reacts 👍 in Delta Chat to alice's message: alice gets a XEP-0444 reaction to her message id, not a message; taking it back empties it", async () => {
      await b.alice.sendMessage({ to: CAROL_JID, type: "chat", body: "Hi Carol!", id: "alice-1" });
      const [reply] = (await b.carol.waitForMessages((ms) => ms.some((m) => m.text === "Hi Carol!"), "alice's answer")).filter((m) => m.text === "Hi Carol!");
      assert.equal(reply!.chatId, b.carolChat, "the answer is in Carol's chat with alice");
      await b.dc.rpc.sendReaction(b.carol.accountId, reply!.id, ["👍"]);
      const reaction = await b.alice.waitForStanza(reactionTo("alice-1"), 30_000);
      assert.deepEqual(emojisOf(reaction), ["👍"]);
      assert.equal(reaction.attrs.type, "chat");
      assert.equal(reaction.getChild("body"), undefined, "a reaction, not a message");
      assert.equal(b.alice.received.some((s) => s.attrs.from === CAROL_JID && s.getChildText("body")?.trim() === "👍"), false);
      await b.component.waitForLog((l) => l.msg === "reaction pushed" && l.id === "alice-1" && l.direction === "sent");

      await b.dc.rpc.sendReaction(b.carol.accountId, reply!.id, []);
      const removed = await b.alice.waitForStanza((s) => reactionTo("alice-1")(s) && s !== reaction, 30_000);
      assert.deepEqual(emojisOf(removed), [], "XEP-0444 §3: an empty set takes the reaction back");
    });

    test("alice reacts to Carol's pushed message: Delta Chat shows the reaction on that message", async () => {
      await b.alice.send(xml("message", { to: CAROL_JID, type: "chat", id: "alice-react-1" }, xml("reactions", { xmlns: NS_REACTIONS, id: pushedHi.attrs.id }, xml("reaction", {}, "🎉")), xml("store", { xmlns: "urn:xmpp:hints" })));
      const reactions = await pollUntil(
        async () => {
          const r = await b.dc.rpc.getMessageReactions(b.carol.accountId, carolHi.id);
          return r?.reactions.some((x) => x.emoji === "🎉") ? r : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250, describe: () => `no 🎉 on Carol's message; component: ${JSON.stringify(b.component.logs.map((l) => [l.msg, l.err]).slice(-15))}` },
      );
      assert.deepEqual(reactions.reactions.map((r) => [r.emoji, r.count, r.isFromSelf]), [["🎉", 1, false]]);
      const messages = await b.carol.messages();
      assert.equal(messages.some((m) => m.text === "🎉"), false, "Delta Chat took it as a reaction, not a message");
      await b.component.waitForLog((l) => l.msg === "reaction sent as mail" && l.id === pushedHi.attrs.id);
    });

    test("a reaction mail naming a message of another conversation is not applied; one naming a message never pushed is not pushed", async () => {
      const info = await b.dc.rpc.getMessageInfoObject(b.carol.accountId, carolHi.id);
      const smtp = nodemailer.createTransport({ host: "127.0.0.1", port: b.stack.postfix.smtpPort, secure: false, ignoreTLS: true });
      const reactionMail = (from: string, id: string, inReplyTo: string) =>
        [
          `From: ${from}`, `To: ${ALICE}`, "Subject: Re: Message from Carol", `Message-ID: <${id}@${REMOTE_DOMAIN}>`, `In-Reply-To: <${inReplyTo}>`,
          `Date: ${new Date().toUTCString()}`, "Chat-Version: 1.0", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Disposition: reaction", "", "👎", "",
        ].join("\r\n");
      try {
        // Dave names Carol's message: it is not his conversation.
        await smtp.sendMail({ envelope: { from: DAVE, to: [ALICE] }, raw: reactionMail(DAVE, "forged-1", info.rfc724Mid) });
        await b.component.waitForLog((l) => l.msg === "reaction mail names a message of another conversation; not applied" && l.from === DAVE);
        // Carol names a Message-ID alice never got.
        await smtp.sendMail({ envelope: { from: "carol@example.net", to: [ALICE] }, raw: reactionMail("carol@example.net", "unknown-1", `never-pushed@${REMOTE_DOMAIN}`) });
        await b.component.waitForLog((l) => l.msg.startsWith("reaction mail to a message the user was never pushed") && l.inReplyTo === `<never-pushed@${REMOTE_DOMAIN}>`);
      } finally {
        smtp.close();
      }
      // The decisions are logged instead of a push: nothing reached alice for either.
      assert.equal(b.alice.received.some((s) => s.attrs.from === DAVE_JID), false);
      assert.equal(b.alice.received.some((s) => s.getChild("reactions", NS_REACTIONS)?.getChildText("reaction") === "👎"), false);
    });

    test("an XMPP reaction to a message the bridge does not know gets item-not-found, and no mail goes", async () => {
      await b.alice.send(xml("message", { to: CAROL_JID, type: "chat", id: "alice-react-x" }, xml("reactions", { xmlns: NS_REACTIONS, id: "no-such-message" }, xml("reaction", {}, "👀"))));
      const error = await b.alice.waitForStanza((s) => s.is("message") && s.attrs.type === "error" && s.attrs.id === "alice-react-x");
      assert.ok(error.getChild("error")?.getChild("item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas"), error.toString());
      assert.match(error.getChild("error")?.getChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas") ?? "", /no-such-message/);
      assert.equal((await b.carol.messages()).some((m) => m.text === "👀"), false);
    });
  });
}
