// The chat history options: switches from flags, environment and TOML; the keyword default that
// follows --chat-history; folder names that cannot break the Maildir++ layout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadRunConfig } from "../../src/config/index.js";
import { ConfigError } from "../../src/errors.js";

const base = { domain: "archive.example.org", maildir: "/var/vmail/%d/%n/Maildir" };
const load = (flags: Record<string, string>, env: Record<string, string> = {}, toml?: string) =>
  loadRunConfig({ flags: { ...base, ...flags }, env: { XMPP_MAILDIR_SECRET: "x", ...env }, configFile: toml === undefined ? undefined : "/etc/x.toml", readFile: () => toml ?? "" });
const configError = (key: string, pattern: RegExp) => (err: unknown) => err instanceof ConfigError && err.key === key && pattern.test(err.message);

test("chat history is off by default, with Chats, no keywords and 256 KiB attachments", () => {
  assert.deepEqual(load({}).chat, { history: false, groupchat: false, folder: "Chats", keywords: false, maxAttachmentBytes: 262_144 });
});

test("switches come from a flag, the environment or TOML; keywords follow chat history unless set", () => {
  assert.deepEqual(load({ "chat-history": "true" }).chat, { history: true, groupchat: false, folder: "Chats", keywords: true, maxAttachmentBytes: 262_144 });
  assert.equal(load({}, { XMPP_MAILDIR_GROUPCHAT: "yes" }).chat?.groupchat, true);
  const fromToml = load({}, {}, 'chat-history = true\nkeywords = false\nchats-folder = "Chat history"\n').chat;
  assert.deepEqual([fromToml?.history, fromToml?.keywords, fromToml?.folder], [true, false, "Chat history"]);
  assert.equal(load({ keywords: "on" }).chat?.keywords, true);
});

test("bad values name the key, where they came from and what is allowed", () => {
  assert.throws(() => load({}, { XMPP_MAILDIR_CHAT_HISTORY: "maybe" }), configError("chat-history", /true or false.*XMPP_MAILDIR_CHAT_HISTORY/));
  for (const folder of ["Chats.Rooms", "a/b", "INBOX", "~x", ""]) {
    assert.throws(() => load({ "chats-folder": folder }), configError("chats-folder", /folder name/), folder);
  }
  assert.throws(() => load({ "max-attachment-bytes": "12" }), configError("max-attachment-bytes", /at least 1024/));
});
