/**
 * Asking a c2s port whether Prosody really serves a domain yet.
 */
import net from "node:net";

/** A stream header is answered in a few ms once the server's loop runs. */
const PROBE_ATTEMPT_TIMEOUT_MS = 2_000;

/**
 * One attempt: opens an RFC 6120 §4.2 stream to `domain` and resolves true
 * once <stream:features> arrives. A TCP connect alone succeeds as soon as
 * the port listens, while Prosody may still be loading modules; features
 * come only from its running event loop, after startup has finished.
 */
export function probeStreamFeatures(port: number, domain: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let seen = "";
    const done = (ok: boolean) => {
      if (ok) socket.end("</stream:stream>");
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(PROBE_ATTEMPT_TIMEOUT_MS, () => done(false));
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
    socket.once("connect", () => {
      socket.write(
        `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' ` +
          `xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
      );
    });
    socket.on("data", (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      if (seen.includes("<stream:features")) done(true);
    });
  });
}
