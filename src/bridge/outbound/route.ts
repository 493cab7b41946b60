// Which messages to the component are mail to send: those to <escaped address>@<component
// domain> whose local part unescapes (XEP-0106) to an address with an '@'. Everything else to
// user@<component domain> keeps the direct-archive path.
import { unescapeNode } from "../address.js";

/** Loose on purpose: the smarthost is the judge of addresses; we only refuse what is not one. */
const ADDRESS = /^[^\s@<>()",;\\]+@[^\s@<>()",;\\]+\.[^\s@<>()",;\\]+$/u;

/** The mail recipient a message is addressed to, or undefined when it is not outbound mail. */
export function outboundRecipient(to: string | undefined, componentDomain: string): string | undefined {
  if (!to) return undefined;
  const slash = to.indexOf("/");
  const bareTo = slash === -1 ? to : to.slice(0, slash);
  const at = bareTo.lastIndexOf("@");
  if (at <= 0 || bareTo.slice(at + 1).toLowerCase() !== componentDomain) return undefined;
  const address = unescapeNode(bareTo.slice(0, at));
  if (!address.includes("@")) return undefined;
  return ADDRESS.test(address) ? address : undefined;
}
