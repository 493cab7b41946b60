// Prints what a mail client shows of chat history (the README's "Chat history" listing): a real
// Prosody with the module and its bundled MUC, the real component with --chat-history --groupchat,
// real XMPP clients chatting, and then alice's folders and messages as read over IMAP from a real
// Dovecot. Run: npm run build && node dist/scripts/chat-listing.js
import { xml } from "@xmpp/client";
import { simpleParser } from "mailparser";
import type { ComponentProcess } from "../harness/component.js";
import { listMailbox } from "../harness/imap.js";
import { listFolders, waitForMailbox } from "../harness/imap-folders.js";
import { DOMAIN, startStack, type Stack } from "../harness/stack.js";
import { makeTempDir, removeDir } from "../harness/tmp.js";
import { connectClient, type TestClient } from "../harness/xmpp-client.js";

const MUC = `conference.${DOMAIN}`;
const ROOM = `lounge@${MUC}`;

async function converse(stack: Stack, component: ComponentProcess): Promise<void> {
  const join = (username: string) => connectClient({ port: stack.prosody.c2sPort, domain: DOMAIN, username, password: stack.password, resource: "phone" });
  const bob = await join("bob");
  // carol is offline: this one waits in INBOX, unseen.
  await bob.sendMessage({ to: `carol@${DOMAIN}`, body: "Carol, the keys are under the mat", id: "k1" });
  await component.waitForLog((l) => l.msg === "stored" && l.reason === "offline");
  const [alice, carol] = await Promise.all([join("alice"), join("carol")]);
  const clients: TestClient[] = [alice, bob, carol];
  try {
    await bob.sendMessage({ to: `alice@${DOMAIN}`, body: "Are we still on for dinner on Friday?", id: "d1" });
    await alice.waitForStanza((s) => s.attrs.id === "d1");
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "Yes! 8 pm at Luigi's", id: "d2" });
    await alice.sendMessage({ to: `bob@${DOMAIN}`, body: "Yes! 7 pm at Luigi's", id: "d3", extra: xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "d2" }) });
    await bob.sendMessage({
      to: `alice@${DOMAIN}`,
      body: "Here is the menu: https://share.example.test/u/menu.pdf",
      id: "d4",
      extra: xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, "https://share.example.test/u/menu.pdf"), xml("desc", {}, "Luigi's menu")),
    });
    await carol.waitForStanza((s) => s.attrs.id === "k1");
    await carol.send(xml("message", { to: `bob@${DOMAIN}`, type: "chat", id: "k2" }, xml("displayed", { xmlns: "urn:xmpp:chat-markers:0", id: "k1" })));
    for (const [c, nick] of [[alice, "Alice"], [bob, "Bob"]] as const) {
      await c.send(xml("presence", { to: `${ROOM}/${nick}` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
      await c.waitForStanza((s) => s.is("presence") && s.attrs.from === `${ROOM}/${nick}`);
    }
    await bob.send(xml("message", { to: ROOM, type: "groupchat", id: "g1" }, xml("body", {}, "Who is bringing the cake?")));
    await alice.send(xml("message", { to: ROOM, type: "groupchat", id: "g2" }, xml("body", {}, "Me 🎂")));
    await waitForMailbox({ ...stack.imap("alice"), mailbox: "Chats.lounge" }, (m) => m.length === 2);
    await waitForMailbox({ ...stack.imap("alice"), mailbox: "Chats" }, (m) => m.length === 4);
    await waitForMailbox({ ...stack.imap("carol") }, (m) => m[0]?.flags.includes("\\Seen") === true);
  } finally {
    for (const c of clients) await c.stop();
  }
}

async function printMailbox(stack: Stack, user: string): Promise<void> {
  const folders = await listFolders(stack.imap(user));
  console.log(`${user}@${DOMAIN}: ${folders.map((f) => `${f.path}${f.subscribed ? "" : " (not subscribed)"}`).join(", ")}`);
  for (const folder of folders) {
    const listed = await listMailbox({ ...stack.imap(user), mailbox: folder.path });
    if (listed.length === 0) continue;
    console.log(`\n  ${folder.path}`);
    let lastRoot = "";
    // As a client sorts by default: by Date, then by UID (the Date header has whole seconds).
    const messages = await Promise.all(listed.map(async (m) => ({ m, parsed: await simpleParser(m.source) })));
    messages.sort((a, b) => (a.parsed.date?.getTime() ?? 0) - (b.parsed.date?.getTime() ?? 0) || a.m.uid - b.m.uid);
    for (const { m, parsed } of messages) {
      const refs = [parsed.references ?? []].flat();
      const root = refs[0] ?? "";
      if (root && root !== lastRoot && folder.path !== "INBOX") console.log(`    ── thread ${root.replace(/^<(\w+)\.(\w{8})\w*@/, "<$1.$2…@")}`);
      lastRoot = root;
      const edit = parsed.headers.get("chat-edit") ? "  ✎ corrects the one before" : "";
      const from = parsed.from?.value[0];
      const who = from?.name ? `${from.name} <${from.address}>` : from?.address ?? "";
      const flags = m.flags.filter((f) => f !== "\\Recent").join(" ");
      console.log(`    ${m.flags.includes("\\Seen") ? " " : "●"} ${who.padEnd(34)} ${(parsed.subject ?? "").padEnd(40)} ${flags}${edit}`);
      const links = parsed.text?.split("\nLinks:\n")[1];
      if (links) console.log(`      ${"".padEnd(34)} links: ${links.trim().replace(/\n/g, "; ")}`);
    }
  }
}

/** The header block of the correction, as stored: what makes it a chat, a thread and an edit. */
async function printCorrection(stack: Stack): Promise<void> {
  const chats = await listMailbox({ ...stack.imap("alice"), mailbox: "Chats" });
  const correction = chats.find((m) => /^Chat-Edit:/m.test(m.source.toString()));
  if (!correction) return;
  const head = correction.source.toString().split(/\r?\n\r?\n/)[0] ?? "";
  const keep = /^(From|To|Subject|Date|Message-ID|In-Reply-To|References|Chat-Version|Chat-Edit|Jabber-ID|X-XMPP-Type|Content-Type):/i;
  console.log("\nHeaders of the correction in alice's Chats:");
  for (const line of head.split(/\r?\n(?![ \t])/)) if (keep.test(line)) console.log(`    ${line.replace(/\r?\n[ \t]+/g, " ")}`);
}

async function main(): Promise<void> {
  const dir = await makeTempDir("xmpp-maildir-chat-listing-");
  let stack: Stack | undefined;
  let component: ComponentProcess | undefined;
  try {
    stack = await startStack({
      dir,
      users: ["alice", "bob", "carol"],
      prosodyHostConfig: ["xmpp_maildir_chat_history = true", "xmpp_maildir_groupchat = true", `Component "${MUC}" "muc"`, "muc_room_locking = false"],
    });
    component = stack.component({ args: ["--chat-history", "--groupchat"] });
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    await converse(stack, component);
    console.log("(● unseen; flags as Dovecot reports them in FETCH FLAGS)\n");
    await printMailbox(stack, "alice");
    console.log("");
    await printMailbox(stack, "carol");
    await printCorrection(stack);
  } finally {
    await component?.stop();
    await stack?.stop();
    await removeDir(dir);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
