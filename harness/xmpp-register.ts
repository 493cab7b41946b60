/**
 * XEP-0077 in-band registration on a fresh, unauthenticated c2s stream: one account per stream.
 * For benches that need dozens of ejabberd accounts: `ejabberdctl register` boots an Erlang VM per
 * account (seconds each on a loaded machine). The server needs mod_register, and for ejabberd
 * `registration_timeout: infinity` (by default one registration per IP per 600 s).
 */
import net from "node:net";

const REGISTER_TIMEOUT_MS = 60_000;

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&apos;");

export function registerInBand(port: number, domain: string, username: string, password: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let seen = "";
    let asked = false;
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`in-band registration of ${username}@${domain} on port ${port}: ${why}`));
    };
    socket.setTimeout(REGISTER_TIMEOUT_MS, () => fail("timed out"));
    socket.once("error", (err) => fail(err.message));
    socket.once("close", () => fail(`connection closed; the server said: ${seen.slice(-500)}`));
    socket.once("connect", () => {
      socket.write(`<?xml version='1.0'?><stream:stream to='${escapeXml(domain)}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`);
    });
    socket.on("data", (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      if (!asked && seen.includes("</stream:features>")) {
        asked = true;
        socket.write(
          `<iq type='set' id='xmd-reg'><query xmlns='jabber:iq:register'><username>${escapeXml(username)}</username><password>${escapeXml(password)}</password></query></iq>`,
        );
      }
      const answer = /<iq[^>]*id=['"]xmd-reg['"][^>]*>/.exec(seen)?.[0];
      if (answer) {
        socket.removeAllListeners("close");
        socket.end("</stream:stream>");
        socket.destroy();
        if (/type=['"]result['"]/.test(answer)) resolve();
        else reject(new Error(`in-band registration of ${username}@${domain} refused: ${seen.slice(seen.indexOf(answer), seen.indexOf(answer) + 500)}`));
      }
    });
  });
}
