// Helpers shared by the mail ↔ XMPP integration tests.
import { xml } from "@xmpp/client";
import type { TestClient, Element } from "../../harness/xmpp-client.js";
import type { ComponentProcess } from "../../harness/component.js";
import { COMPONENT } from "../../harness/stack.js";

export function rawMail(o: { from: string; to: string; subject: string; messageId: string; text?: string; html?: string }): string {
  const type = o.html !== undefined ? "text/html" : "text/plain";
  return [
    `From: ${o.from}`, `To: ${o.to}`, `Subject: ${o.subject}`, `Message-ID: ${o.messageId}`,
    `Date: ${new Date().toUTCString()}`, "MIME-Version: 1.0", `Content-Type: ${type}; charset=utf-8`, "",
    o.html ?? o.text ?? "", "",
  ].join("\r\n");
}

/** The roster way (README): the user adds the component and approves its request back. */
export async function subscribeToComponent(client: TestClient, component: ComponentProcess): Promise<void> {
  const user = client.jid.split("/")[0]!;
  await client.send(xml("presence", { to: COMPONENT, type: "subscribe" }));
  await client.waitForStanza((s) => s.is("presence") && s.attrs.from === COMPONENT && s.attrs.type === "subscribe");
  await client.send(xml("presence", { to: COMPONENT, type: "subscribed" }));
  await component.waitForLog((l) => l.msg.startsWith("user online") && l.user === user);
}

export const pushedWithSubject = (subject: string) => (s: Element): boolean =>
  s.is("message") && s.attrs.type === "normal" && s.getChildText("subject") === subject;
