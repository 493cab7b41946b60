// Issue #14's "conversation both ways", every step asserted on what each real client shows: Carol
// in a real Delta Chat core writes to alice@example.test; alice's XMPP client gets a chat from
// Carol; alice answers with a photo (uploaded to Prosody's own XEP-0363 service and shared as an
// OOB URL, as Conversations does); Carol sees the answer in the same Delta Chat chat, the photo
// attached; Carol reacts 👍 and alice's client gets the reaction on her message.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { T } from "@deltachat/jsonrpc-client";
import { onServers } from "../../harness/generation.js";
import { SERVER_KINDS, type ServerKind } from "../../harness/stack.js";
import { shareUrl, uploadFile } from "../../harness/http-upload.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { CAROL_JID, NS_REACTIONS, startDeltaChatBridge, type DeltaChatBridge } from "../support/deltachat-bridge.js";
import { tinyPng } from "../support/png.js";

const NAMES: Record<ServerKind, string> = { prosody: "Prosody", ejabberd: "ejabberd" };
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

for (const kind of SERVER_KINDS) {
  describe(onServers(`a conversation both ways between Delta Chat and an XMPP client (${NAMES[kind]})`), () => {
    let dir: string;
    let b: DeltaChatBridge;

    before(async () => {
      dir = await makeTempDir("xmd-conv-");
      // The component may fetch what alice shares from her server's own upload service, and nothing else.
      b = await startDeltaChatBridge(dir, { server: kind, upload: true, componentArgs: (stack) => ["--upload-origins", stack.upload!.origin] });
    });

    after(async () => {
      await b?.stop();
      await removeDir(dir);
    });

    test("Carol writes, alice answers with a photo, Carol sees it in the same chat and reacts 👍, alice sees the reaction", async () => {
      const { alice, carol, dc } = b;
      // 1. Carol writes to alice@example.test in Delta Chat.
      await dc.rpc.miscSendTextMessage(carol.accountId, b.carolChat, "Hi Alice, how was the trip?");

      // 2. alice's client shows a chat with Carol: type chat, from Carol's escaped JID, her text, no subject.
      const hi = await alice.waitForStanza((s) => s.is("message") && s.attrs.from === CAROL_JID && /how was the trip/.test(s.getChildText("body") ?? ""), 30_000);
      assert.equal(hi.attrs.type, "chat");
      assert.equal(hi.getChildText("body")?.trim(), "Hi Alice, how was the trip?");
      assert.equal(hi.getChild("subject"), undefined, "a chat, not a notice");

      // 3. alice answers with a word and a photo, as Conversations sends them: the text, then the
      //    uploaded file's URL as the body with a jabber:x:oob element.
      await alice.sendMessage({ to: CAROL_JID, type: "chat", body: "Lovely! Look at this sunset:", id: "alice-text" });
      const photo = tinyPng();
      // Delta Chat's device chat has a welcome image of its own: only alice's counts.
      const fromAlice = (m: T.Message) => m.sender.address === "alice@example.test" && m.file !== null;
      const url = await uploadFile(alice, b.stack.upload!.service, { name: "sunset.png", type: "image/png", bytes: photo });
      await shareUrl(alice, CAROL_JID, url, "alice-photo");

      // 4. Carol sees both in the same Delta Chat chat, the photo attached (not a link).
      const seen = await carol.waitForMessages(
        (ms) => ms.some((m) => m.text === "Lovely! Look at this sunset:") && ms.some(fromAlice),
        "alice's text and her photo",
      );
      const text = seen.find((m) => m.text === "Lovely! Look at this sunset:")!;
      const image = seen.find(fromAlice)!;
      assert.equal(text.chatId, b.carolChat, "the answer is in Carol's chat with alice");
      assert.equal(image.chatId, b.carolChat, "the photo is in the same chat");
      assert.equal(image.viewType, "Image");
      assert.equal(image.fileMime, "image/png");
      assert.equal(image.fileName, "sunset.png");
      assert.equal(image.dimensionsWidth, 8);
      assert.equal(sha256(await readFile(image.file!)), sha256(photo), "Delta Chat holds the very bytes alice uploaded");
      assert.equal(seen.some((m) => m.text.includes(url)), false, "the file, not a link that dies in a week");

      // 5. Carol reacts 👍 to the photo; alice's client gets a XEP-0444 reaction to that message.
      await dc.rpc.sendReaction(carol.accountId, image.id, ["👍"]);
      const reaction = await alice.waitForStanza((s) => s.is("message") && s.attrs.from === CAROL_JID && s.getChild("reactions", NS_REACTIONS)?.attrs.id === "alice-photo", 30_000);
      assert.deepEqual(reaction.getChild("reactions", NS_REACTIONS)!.getChildren("reaction").map((r) => r.getText()), ["👍"]);
      assert.equal(reaction.getChild("body"), undefined, "a reaction, not a new message");
    });
  });
}
