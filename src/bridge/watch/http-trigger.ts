// The Dovecot trigger: a small HTTP endpoint on loopback that Dovecot's push_notification plugin
// posts to on MessageNew, through the Lua driver (examples/dovecot-push.lua) or the OX driver
// (examples/dovecot-push-ox.conf). Both bodies are JSON with a `user`; the OX driver also sends
// `folder`, our Lua script `mailbox`. The body only says "look at this user's INBOX": what to
// push is decided from the Maildir, exactly as for the filesystem trigger.
import { createServer, type IncomingMessage, type Server } from "node:http";
import { close, listen } from "../../http/server.js";
import type { Logger } from "../../log/index.js";
import type { MailboxOwner } from "../../maildir/index.js";

/** A notification is a few hundred bytes; anything far larger is not from Dovecot. */
const MAX_BODY_BYTES = 64 * 1024;
/** Dovecot's HTTP client waits for our answer inside the delivery; never hold it up. */
const REQUEST_TIMEOUT_MS = 5_000;

export interface HttpTrigger {
  /** Listens on host:port (port 0: any free port) and resolves with the port. */
  start(): Promise<number>;
  stop(): Promise<void>;
}

export function createHttpTrigger(options: {
  host: string;
  port: number;
  logger: Logger;
  onChange: (owner: MailboxOwner) => void;
}): HttpTrigger {
  const { logger } = options;
  let server: Server | undefined;

  async function readBody(req: IncomingMessage): Promise<string> {
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw new Error("body too large");
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString("utf8");
  }

  /** Returns the HTTP status to answer. */
  async function handle(req: IncomingMessage): Promise<number> {
    // The Lua script POSTs; Dovecot's OX driver sends PUT (push-notification-driver-ox.c).
    if (req.method !== "POST" && req.method !== "PUT") return 405;
    let body: { user?: unknown; mailbox?: unknown; folder?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as typeof body;
    } catch {
      return 400;
    }
    const user = typeof body.user === "string" ? body.user.trim().toLowerCase() : "";
    const at = user.lastIndexOf("@");
    if (at <= 0 || at === user.length - 1) return 400;
    const mailbox = body.mailbox ?? body.folder ?? "INBOX";
    // Only INBOX is pushed; deliveries into other folders (Sieve fileinto) are the user's choice.
    if (typeof mailbox === "string" && mailbox.toUpperCase() === "INBOX") {
      options.onChange({ local: user.slice(0, at), domain: user.slice(at + 1) });
    }
    return 204;
  }

  const onRequest = (req: IncomingMessage, res: import("node:http").ServerResponse): void => {
    handle(req).then(
      (status) => res.writeHead(status).end(),
      (err: Error) => {
        logger.warn({ err: err.message }, "bad push notification request");
        res.writeHead(400).end();
      },
    );
  };

  return {
    async start() {
      server = createServer(onRequest);
      server.requestTimeout = REQUEST_TIMEOUT_MS;
      const port = await listen(server, options.port, options.host);
      logger.info({ host: options.host, port }, "listening for Dovecot push notifications");
      return port;
    },
    async stop() {
      const s = server;
      server = undefined;
      await close(s);
    },
  };
}
