// One connection attempt with the real component handshake (XEP-0114 §3), for `check`.
import { component } from "@xmpp/component";
import type { RunConfig } from "../config/index.js";
import type { CheckResult } from "./types.js";

/** A handshake on loopback takes milliseconds; a server that does not answer in 5 s is broken. */
const PROBE_TIMEOUT_MS = 5_000;

export async function checkXmpp(config: RunConfig): Promise<CheckResult> {
  const where = `${config.xmppHost}:${config.xmppPort}`;
  const xmpp = component({ service: `xmpp://${where}`, domain: config.domain, password: config.secret });
  xmpp.reconnect.stop();
  const errors: Array<Error & { condition?: string; code?: string }> = [];
  xmpp.on("error", (err: Error) => errors.push(err));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      xmpp.start(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS))),
    ]);
    return { name: "xmpp", status: "ok", detail: `handshake with ${where} as ${config.domain} accepted` };
  } catch (err) {
    const all = [...errors, err as Error & { condition?: string; code?: string }];
    const condition = all.find((e) => e.condition)?.condition;
    const code = all.find((e) => e.code)?.code;
    if (condition === "not-authorized") {
      return { name: "xmpp", status: "fail", detail: `${where} refused the secret`, fix: `use the component_secret of Component "${config.domain}" (XMPP_MAILDIR_SECRET or secret-file)` };
    }
    if (condition === "host-unknown" || condition === "improper-addressing") {
      return { name: "xmpp", status: "fail", detail: `${where} does not know the component ${config.domain}`, fix: `add Component "${config.domain}" with a component_secret to the server config, or fix --domain` };
    }
    if (condition === "conflict") {
      return { name: "xmpp", status: "warn", detail: `${where} accepted the secret but another instance is connected as ${config.domain}`, fix: "fine if `xmpp-maildir run` is running; otherwise find the other connection" };
    }
    if (code) {
      return { name: "xmpp", status: "fail", detail: `cannot connect to ${where} (${code})`, fix: `start the XMPP server and check component_ports = { ${config.xmppPort} } and component_interfaces in its config, or fix --xmpp-host/--xmpp-port` };
    }
    return { name: "xmpp", status: "fail", detail: `handshake with ${where} failed: ${condition ?? (err as Error).message}`, fix: "check the server's log for the component connection" };
  } finally {
    clearTimeout(timer);
    await xmpp.stop().catch(() => undefined);
  }
}
