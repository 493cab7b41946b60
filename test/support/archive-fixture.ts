// Writes archived messages the way the archiver does (captureCopy → renderMail → Maildir writer),
// so replay tests read real archive mail rather than hand-written files.
import { captureCopy } from "../../src/capture/index.js";
import { renderMail } from "../../src/mail/index.js";
import { createMaildirWriter } from "../../src/maildir/index.js";
import { copyIq } from "./stanzas.js";

export const FIXTURE_DOMAIN = "archive.example.org";
export const FIXTURE_USER_DOMAIN = "example.org";

export interface FixtureMessage {
  readonly from?: string;
  readonly to?: string;
  readonly body: string;
  readonly id: string;
  readonly type?: "chat" | "normal";
  /** XEP-0082 stamp on the copy's <forwarded/>: the archived time. */
  readonly stamp: string;
}

export async function writeArchive(maildir: string, messages: readonly FixtureMessage[], options: { fsync?: boolean } = {}): Promise<string[]> {
  const writer = createMaildirWriter({ fsync: options.fsync ?? false });
  const xmls: string[] = [];
  for (const m of messages) {
    const inner = `<message xmlns='jabber:client' from='${m.from ?? "bob@example.org/phone"}' to='${m.to ?? "alice@example.org"}' type='${m.type ?? "chat"}' id='${m.id}'><body>${m.body}</body></message>`;
    const result = captureCopy(copyIq({ inner, stamp: m.stamp }), { componentDomain: FIXTURE_DOMAIN, userDomain: FIXTURE_USER_DOMAIN, now: new Date(), maxStanzaBytes: 1 << 20 });
    if (result.kind !== "archive") throw new Error("fixture message not archived");
    const mail = await renderMail(result.record, { domain: FIXTURE_DOMAIN });
    await writer.deliver(maildir, mail.bytes);
    xmls.push(result.record.xml);
  }
  return xmls;
}
