// The mail ↔ XMPP bridge with a real Delta Chat core on the mail side: the bridge stack (Prosody,
// Dovecot with LMTP and SMTP AUTH, Postfix, the component with --watch fs and --smtp-url), alice on
// XMPP (subscribed to the component, so her INBOX mail is pushed), and carol@example.net in Delta
// Chat, idling on carol's own INBOX (never alice's: that would move her mail to cur/ under the
// watcher, which is not what these tests are about).
import path from "node:path";
import type { ComponentProcess } from "../../harness/component.js";
import { startDeltaChatClient, type DeltaChatClient, type DeltaChatProfile } from "../../harness/deltachat.js";
import { COMPONENT, DOMAIN, REMOTE_DOMAIN, startBridgeStack, type BridgeStack } from "../../harness/smtp-stack.js";
import type { ServerKind } from "../../harness/stack.js";
import { connectClient, type TestClient } from "../../harness/xmpp-client.js";
import { subscribeToComponent } from "./bridge-mail.js";

export const ALICE = `alice@${DOMAIN}`;
export const CAROL = `carol@${REMOTE_DOMAIN}`;
/** Carol as alice's XMPP client sees her: her address escaped at the component (XEP-0106). */
export const CAROL_JID = `carol\\40${REMOTE_DOMAIN}@${COMPONENT}`;
export const NS_REACTIONS = "urn:xmpp:reactions:0";

export interface DeltaChatBridge {
  readonly stack: BridgeStack;
  readonly component: ComponentProcess;
  readonly alice: TestClient;
  readonly dc: DeltaChatClient;
  readonly carol: DeltaChatProfile;
  /** Carol's one-to-one chat with alice (created on her side, so not a contact request). */
  readonly carolChat: number;
  stop(): Promise<void>;
}

export async function startDeltaChatBridge(dir: string, options: { componentArgs?: (stack: BridgeStack) => readonly string[]; upload?: boolean; server?: ServerKind } = {}): Promise<DeltaChatBridge> {
  const stack = await startBridgeStack({ dir, users: ["alice"], trigger: "fs", smtpAuth: true, ...(options.upload ? { upload: true } : {}), server: options.server ?? "prosody" });
  const cleanups: Array<() => Promise<unknown>> = [() => stack.stop()];
  const stop = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };
  try {
    // Carol logs in to IMAP and SMTP as carol@example.net (Postfix relays her domain to the same Dovecot).
    await stack.dovecot.setUsers([ALICE, CAROL].map((user) => ({ user, password: stack.password })));
    const component = stack.component(options.componentArgs?.(stack));
    cleanups.push(() => component.stop());
    await component.waitForLog((l) => l.msg === "connected to the XMPP server");
    const alice = await connectClient({ port: stack.server.c2sPort, domain: DOMAIN, username: "alice", password: stack.password });
    cleanups.push(() => alice.stop());
    await subscribeToComponent(alice, component);
    const dc = startDeltaChatClient(path.join(dir, "deltachat"));
    cleanups.push(() => dc.stop());
    const carol = await dc.addProfile({ addr: CAROL, password: stack.password, imapPort: stack.dovecot.imapPort, smtpPort: stack.postfix.smtpPort, imapFolder: "INBOX" });
    const contact = await dc.rpc.createContact(carol.accountId, ALICE, null);
    const carolChat = await dc.rpc.createChatByContactId(carol.accountId, contact);
    return { stack, component, alice, dc, carol, carolChat, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
