// Hostile and broken input, over a real socket into the real component code: every stanza has a
// defined outcome (stored, refused with a named stanza error and a warn line, skipped, or the
// stream closed and reopened), the component never crashes, and nothing lands outside the root.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { simpleParser } from "mailparser";
import { startArchiverHarness, type ArchiverHarness } from "../support/archiver-harness.js";
import type { FakeServer } from "../support/fake-server.js";

const DOMAIN = "archive.example.org";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const MAX_STANZA_BYTES = 64 * 1024;

type Outcome =
  | { stored: string; check?: (mail: string) => Promise<void> | void }
  | { refused: string }
  | { skipped: true }
  | { stream: true };

interface Case {
  name: string;
  /** A copy (IQ from the server) wrapping `inner`, or a raw stanza sent as it is. */
  copy?: { inner: string; from?: string; reason?: string | null; wrap?: (forwarded: string) => string };
  raw?: string;
  expect: Outcome;
}

const msg = (attrs: string, children = "<body>hello</body>", ns = " xmlns='jabber:client'") => `<message${ns} ${attrs}>${children}</message>`;
const good = "from='bob@example.net/r' to='alice@example.org' type='chat'";
const big = "x".repeat(MAX_STANZA_BYTES + 1);
const deep = (n: number) => "<a>".repeat(n) + "</a>".repeat(n);

const cases: Case[] = [
  // The control: a good copy and a good direct message are stored.
  { name: "a valid copy", copy: { inner: msg(good) }, expect: { stored: "alice" } },
  { name: "a valid direct message", raw: `<message from='carol@example.net/x' to='dave@${DOMAIN}'><body>hi</body></message>`, expect: { stored: "dave" } },
  // Who may send copies.
  { name: "copy from a user", copy: { inner: msg(good), from: "bob@example.org/r" }, expect: { refused: "not-allowed" } },
  { name: "copy from another domain", copy: { inner: msg(good), from: "evil.example" }, expect: { refused: "not-allowed" } },
  { name: "copy from the server with a resource", copy: { inner: msg(good), from: "example.org/x" }, expect: { refused: "not-allowed" } },
  { name: "copy from the component's own domain", copy: { inner: msg(good), from: DOMAIN }, expect: { refused: "not-allowed" } },
  { name: "copy from a bare user JID", copy: { inner: msg(good), from: "alice@example.org" }, expect: { refused: "not-allowed" } },
  // Malformed copies.
  { name: "copy without a reason", copy: { inner: msg(good), reason: null }, expect: { refused: "bad-request" } },
  { name: "copy with an unknown reason", copy: { inner: msg(good), reason: "because" }, expect: { refused: "bad-request" } },
  { name: "copy without <forwarded/>", copy: { inner: msg(good), wrap: () => "" }, expect: { refused: "bad-request" } },
  { name: "copy with two <forwarded/>", copy: { inner: msg(good), wrap: (f) => f + f }, expect: { refused: "bad-request" } },
  { name: "forwarded without a message", copy: { inner: "" }, expect: { refused: "bad-request" } },
  { name: "forwarded with two messages", copy: { inner: msg(good) + msg(good) }, expect: { refused: "bad-request" } },
  { name: "inner message without a namespace", copy: { inner: msg(good, undefined, "") }, expect: { refused: "bad-request" } },
  { name: "inner message in the wrong namespace", copy: { inner: msg(good, undefined, " xmlns='jabber:server:evil'") }, expect: { refused: "bad-request" } },
  { name: "inner presence instead of message", copy: { inner: "<presence xmlns='jabber:client' from='bob@example.net/r' to='alice@example.org'/>" }, expect: { refused: "bad-request" } },
  { name: "inner type headline", copy: { inner: msg(good.replace("chat", "headline")) }, expect: { refused: "bad-request" } },
  { name: "inner type groupchat", copy: { inner: msg(good.replace("chat", "groupchat")) }, expect: { refused: "bad-request" } },
  { name: "inner type error", copy: { inner: msg(good.replace("chat", "error")) }, expect: { refused: "bad-request" } },
  // Missing or invalid JIDs, and path escapes.
  { name: "inner message without to", copy: { inner: msg("from='bob@example.net/r'") }, expect: { refused: "jid-malformed" } },
  { name: "inner message without from", copy: { inner: msg("to='alice@example.org'") }, expect: { refused: "jid-malformed" } },
  { name: "inner to with two @", copy: { inner: msg("from='b@example.net' to='a@b@example.org'") }, expect: { refused: "jid-malformed" } },
  { name: "inner to with an empty resource", copy: { inner: msg("from='b@example.net' to='alice@example.org/'") }, expect: { refused: "jid-malformed" } },
  { name: "inner to the server itself", copy: { inner: msg("from='b@example.net' to='example.org'") }, expect: { refused: "not-allowed" } },
  { name: "inner to a user of another domain", copy: { inner: msg("from='b@example.net' to='alice@example.net'") }, expect: { refused: "not-allowed" } },
  { name: "inner to ..", copy: { inner: msg("from='b@example.net' to='..@example.org'") }, expect: { refused: "jid-malformed" } },
  { name: "inner to .", copy: { inner: msg("from='b@example.net' to='.@example.org'") }, expect: { refused: "jid-malformed" } },
  { name: "inner to with a newline", copy: { inner: msg("from='b@example.net' to='a&#10;b@example.org'") }, expect: { refused: "jid-malformed" } },
  { name: "inner to with a tab", copy: { inner: msg("from='b@example.net' to='a&#9;b@example.org'") }, expect: { refused: "jid-malformed" } },
  { name: "inner to with a C1 control", copy: { inner: msg("from='b@example.net' to='a\u0085b@example.org'") }, expect: { refused: "jid-malformed" } },
  { name: "inner to of 1100 bytes", copy: { inner: msg(`from='b@example.net' to='${"a".repeat(1100)}@example.org'`) }, expect: { refused: "jid-malformed" } },
  { name: "direct to ..", raw: `<message from='c@example.net/x' to='..@${DOMAIN}'><body>x</body></message>`, expect: { refused: "jid-malformed" } },
  { name: "direct to a name with a newline", raw: `<message from='c@example.net/x' to='a&#10;b@${DOMAIN}'><body>x</body></message>`, expect: { refused: "jid-malformed" } },
  { name: "direct to the bare component", raw: `<message from='c@example.net/x' to='${DOMAIN}'><body>x</body></message>`, expect: { refused: "service-unavailable" } },
  { name: "direct without from", raw: `<message to='dave@${DOMAIN}'><body>x</body></message>`, expect: { refused: "jid-malformed" } },
  { name: "direct groupchat", raw: `<message type='groupchat' from='room@muc.example.net/nick' to='dave@${DOMAIN}'><body>x</body></message>`, expect: { refused: "service-unavailable" } },
  // <forwarded/> from someone who is not the server, and nested forwards.
  { name: "direct <forwarded/> from a user", raw: `<message from='c@example.net/x' to='dave@${DOMAIN}'><body>x</body><forwarded xmlns='urn:xmpp:forward:0'>${msg(good)}</forwarded></message>`, expect: { refused: "not-allowed" } },
  { name: "direct <forwarded/> from a local user", raw: `<message from='bob@example.org/x' to='dave@${DOMAIN}'><body>x</body><forwarded xmlns='urn:xmpp:forward:0'>${msg(good)}</forwarded></message>`, expect: { refused: "not-allowed" } },
  { name: "nested forwards inside a copy are content", copy: { inner: msg(good, `<body>outer</body><forwarded xmlns='urn:xmpp:forward:0'>${msg(good, `<body>inner</body><forwarded xmlns='urn:xmpp:forward:0'>${msg(good)}</forwarded>`)}</forwarded>`) }, expect: { stored: "alice", check: (m) => assert.match(m, /inner/) } },
  // CR, LF, NUL-like content in header material never reaches a header.
  { name: "subject with CRLF and a Bcc", copy: { inner: msg(good, "<subject>Hi&#13;&#10;Bcc: victim@example.com</subject><body>b</body>") }, expect: { stored: "alice", check: noInjectedHeaders } },
  { name: "id with CRLF", copy: { inner: msg(`${good} id='x&#13;&#10;Bcc: v@example.com'`) }, expect: { stored: "alice", check: noInjectedHeaders } },
  { name: "thread with LF and a header", copy: { inner: msg(good, "<thread>t&#10;X-Evil: 1</thread><body>b</body>") }, expect: { stored: "alice", check: noInjectedHeaders } },
  { name: "resource with CRLF", copy: { inner: msg("from='bob@example.net/r&#13;&#10;Bcc: v@example.com' to='alice@example.org' type='chat'") }, expect: { refused: "jid-malformed" } },
  { name: "sender with a space in the local part", copy: { inner: msg("from='bob smith@example.net/r' to='alice@example.org' type='chat'") }, expect: { refused: "jid-malformed" } },
  { name: "body with form feed and vertical tab", copy: { inner: msg(good, "<body>a\u000cb\u000bc</body>") }, expect: { stored: "alice" } },
  // XML entities and Unicode.
  { name: "predefined entities", copy: { inner: msg(good, "<body>&lt;b&gt; &amp; &quot;q&quot; &apos;a&apos;</body>") }, expect: { stored: "alice", check: bodyIs(`<b> & "q" 'a'`) } },
  { name: "numeric character references", copy: { inner: msg(good, "<body>&#x1F600;&#233;</body>") }, expect: { stored: "alice", check: bodyIs("😀é") } },
  { name: "right-to-left and zero-width characters", copy: { inner: msg(good, "<body>\u202eabc\u200b</body>") }, expect: { stored: "alice", check: bodyIs("\u202eabc\u200b") } },
  { name: "invalid UTF-8 bytes", raw: Buffer.concat([Buffer.from(`<message from='c@example.net/x' to='dave@${DOMAIN}'><body>a`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from("b</body></message>")]).toString("latin1"), expect: { stored: "dave" } },
  // Size and shape.
  { name: "a body over the size limit", copy: { inner: msg(good, `<body>${big}</body>`) }, expect: { refused: "policy-violation" } },
  { name: "a direct message over the size limit", raw: `<message from='c@example.net/x' to='dave@${DOMAIN}'><body>${big}</body></message>`, expect: { refused: "policy-violation" } },
  { name: "a 60,000-character single-line body", copy: { inner: msg(good, `<body>${"y".repeat(60_000)}</body>`) }, expect: { stored: "alice", check: bodyIs("y".repeat(60_000)) } },
  { name: "deep nesting", copy: { inner: msg(good, `<body>x</body>${deep(5000)}`) }, expect: { refused: "policy-violation" } },
  { name: "moderate nesting is fine", copy: { inner: msg(good, `<body>x</body>${deep(20)}`) }, expect: { stored: "alice" } },
  // Replies (XEP-0461) and moderation (XEP-0425) that name nothing, or nothing we have: stored as
  // ordinary messages, or confirmed unstored when there is nothing a person wrote.
  { name: "a reply to an id nobody has", copy: { inner: msg(good, "<body>&gt; q\nanswer</body><reply xmlns='urn:xmpp:reply:0' to='alice@example.org' id='nope'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='4'/></fallback>") }, expect: { stored: "alice", check: bodyIs("> q\nanswer") } },
  { name: "a reply without id or to", copy: { inner: msg(good, "<body>answer</body><reply xmlns='urn:xmpp:reply:0'/>") }, expect: { stored: "alice", check: bodyIs("answer") } },
  { name: "a reply fallback range past the body", copy: { inner: msg(good, "<body>ab</body><reply xmlns='urn:xmpp:reply:0' id='x'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='999999999'/></fallback>") }, expect: { stored: "alice", check: bodyIs("ab") } },
  { name: "a moderation without an id", copy: { inner: msg(good, "<retract xmlns='urn:xmpp:message-retract:1'><moderated xmlns='urn:xmpp:message-moderate:1'/></retract>") }, expect: { skipped: true } },
  { name: "a 0.2 moderation without an id", copy: { inner: msg(good, "<apply-to xmlns='urn:xmpp:fasten:0'><moderated xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/></moderated></apply-to>") }, expect: { skipped: true } },
  // Nothing to archive.
  { name: "a copy of a chat state", copy: { inner: msg(good, "<active xmlns='http://jabber.org/protocol/chatstates'/>") }, expect: { skipped: true } },
  { name: "a copy of a receipt", copy: { inner: msg(good, "<received xmlns='urn:xmpp:receipts' id='x'/>") }, expect: { skipped: true } },
  { name: "a direct headline", raw: `<message type='headline' from='c@example.net/x' to='dave@${DOMAIN}'><body>x</body></message>`, expect: { skipped: true } },
  { name: "a direct error", raw: `<message type='error' from='c@example.net/x' to='dave@${DOMAIN}'><error type='cancel'/></message>`, expect: { skipped: true } },
  { name: "a direct message without a body", raw: `<message from='c@example.net/x' to='dave@${DOMAIN}'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, expect: { skipped: true } },
  { name: "an IQ get for the copy namespace", raw: `<iq type='get' from='example.org' to='${DOMAIN}'><copy xmlns='urn:xmpp-maildir:copy:0'/></iq>`, expect: { refused: "service-unavailable" } },
  // Broken XML: the stream is closed with bad-format and opened again; nothing is written.
  { name: "an undefined entity", raw: `<message from='c@example.net/x' to='dave@${DOMAIN}'><body>&foo;</body></message>`, expect: { stream: true } },
  { name: "a NUL character reference", raw: `<message from='c@example.net/x' to='dave@${DOMAIN}'><body>&#0;</body></message>`, expect: { stream: true } },
  { name: "a lone surrogate", raw: `<message from='c@example.net/x' to='dave@${DOMAIN}'><body>&#xD800;</body></message>`, expect: { stream: true } },
  { name: "mismatched tags", raw: `<message from='c@example.net/x' to='dave@${DOMAIN}'><body>x</message>`, expect: { stream: true } },
];

function noInjectedHeaders(mail: string): void {
  const head = mail.slice(0, mail.indexOf("\r\n\r\n"));
  assert.doesNotMatch(head, /^(Bcc|X-Evil):/im);
}

function bodyIs(expected: string) {
  return async (mail: string) => {
    const parsed = await simpleParser(mail);
    assert.equal(parsed.text?.replace(/\n$/, ""), expected);
  };
}

describe(`a corpus of ${cases.length} hostile or broken stanzas`, () => {
  let dir: string;
  let harness: ArchiverHarness;
  let server: FakeServer;
  let logs: Array<Record<string, unknown>>;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "xmd-corpus-"));
    harness = await startArchiverHarness({ dir, flags: { "max-stanza-bytes": String(MAX_STANZA_BYTES) } });
    server = harness.server;
    logs = harness.logs;
  });

  after(async () => {
    await harness.stop();
    // Nothing outside the Maildir root and the state dir, and only the expected mailboxes.
    const top = (await readdir(dir)).sort();
    assert.deepEqual(top, ["mail", "state"]);
    assert.deepEqual((await readdir(path.join(dir, "mail"))).sort(), ["example.org"]);
    assert.deepEqual((await readdir(path.join(dir, "mail", "example.org"))).sort(), ["alice", "dave"]);
    await rm(dir, { recursive: true, force: true });
  });

  test("the corpus is large enough", () => assert.ok(cases.length >= 50, `${cases.length} cases`));

  let n = 0;
  for (const c of cases) {
    test(c.name, async () => {
      const id = `case-${++n}`;
      const user = "stored" in c.expect ? c.expect.stored : undefined;
      const before = user ? await listNew(dir, user) : [];
      const connections = server.connections;
      server.send(c.copy ? copyStanza(id, c.copy) : withId(c.raw!, id));
      const expect = c.expect;
      if ("stream" in expect) {
        await server.connected(connections + 1);
        assert.ok(logs.some((l) => l.level === 40 && l.msg === "xmpp stream error; reconnecting"));
        return;
      }
      if ("refused" in expect) {
        const reply = await server.waitFor((el) => el.attrs.id === id);
        assert.equal(reply.attrs.type, "error");
        assert.ok(reply.getChild("error")?.getChild(expect.refused, NS_STANZAS), `condition ${expect.refused}: ${reply.toString()}`);
        if (expect.refused !== "service-unavailable" || c.raw?.startsWith("<message")) {
          assert.ok(logs.some((l) => l.level === 40 && l.msg === "refused" && l.id === id), "one warn line");
        }
        return;
      }
      if ("skipped" in expect) {
        if (c.copy) assert.equal((await server.waitFor((el) => el.attrs.id === id)).attrs.type, "result");
        else await harness.waitForLog((l) => l.msg === "not archived" && l.id === id);
        return;
      }
      if (c.copy) assert.equal((await server.waitFor((el) => el.attrs.id === id)).attrs.type, "result");
      else await harness.waitForLog((l) => l.msg === "stored" && l.id === id);
      const after = await listNew(dir, expect.stored);
      const added = after.filter((f) => !before.includes(f));
      assert.equal(added.length, 1, "exactly one new mail");
      const mail = await readFile(path.join(dir, "mail", "example.org", expect.stored, "new", added[0]!), "utf8");
      await expect.check?.(mail);
    });
  }
});

function copyStanza(id: string, c: NonNullable<Case["copy"]>): string {
  const forwarded = `<forwarded xmlns='urn:xmpp:forward:0'>${c.inner}</forwarded>`;
  const reason = c.reason === null ? "" : ` reason='${c.reason ?? "offline"}'`;
  return `<iq type='set' id='${id}' from='${c.from ?? "example.org"}' to='${DOMAIN}'><copy xmlns='urn:xmpp-maildir:copy:0'${reason}>${c.wrap ? c.wrap(forwarded) : forwarded}</copy></iq>`;
}

function withId(raw: string, id: string): string {
  return raw.replace(/^<(message|iq)/, `<$1 id='${id}'`);
}

async function listNew(dir: string, user: string): Promise<string[]> {
  return readdir(path.join(dir, "mail", "example.org", user, "new")).catch(() => []);
}

