// New mail in users' INBOXes → the scanner, by either trigger:
//   "fs"   chokidar on each user's new/, users discovered from the Maildir root via the template
//          (again every DISCOVERY_INTERVAL_MS, and whenever asked, e.g. when a user comes online);
//   "push" Dovecot's push_notification plugin posting to our loopback HTTP endpoint.
// At the first start (no state yet) every Maildir found gets a baseline: mail already there is
// old news and is never pushed. A Maildir that appears later is new, and so is all its mail.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { ListenError } from "../../errors.js";
import { bare } from "../../jid.js";
import { compileTemplate, expandTemplate, type MailboxOwner } from "../../maildir/index.js";
import { createFsTrigger, type FsTrigger } from "./fs-trigger.js";
import { createHttpTrigger, type HttpTrigger } from "./http-trigger.js";
import { createScanner, type Scanner, type ScannerOptions } from "./scanner.js";
import type { HandledMail } from "../state.js";

/** New Maildirs (a user's first mail) are watched within this; a readdir per level, cheap. */
const DISCOVERY_INTERVAL_MS = 30_000;

export type Trigger = "fs" | "push";

export interface MailWatchOptions extends Pick<ScannerOptions, "logger" | "isOnline" | "push"> {
  readonly template: string;
  /** What was handled already (../state.ts); the caller opens it and saves it after stop(). */
  readonly handled: HandledMail;
  readonly trigger: Trigger;
  /** For "push": where the HTTP endpoint listens (port 0: any free port). */
  readonly pushHost: string;
  readonly pushPort: number;
}

export interface MailWatch {
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * A user who just came online: watched at once, even before their first mail. With the fs
   * trigger their Maildir is created if missing (tmp/ new/ cur/, 0700, as the MDA would), or the
   * first delivery would wait for the next discovery round.
   */
  addUser(owner: MailboxOwner): Promise<void>;
  /** Every user whose Maildir we know of, as bare JIDs (for presence probes). */
  users(): string[];
}

export function createMailWatch(options: MailWatchOptions): MailWatch {
  const { logger } = options;
  const resolve = compileTemplate(options.template);
  const known = new Map<string, MailboxOwner>();
  const state = options.handled;
  let scanner: Scanner | undefined;
  let fs: FsTrigger | undefined;
  let http: HttpTrigger | undefined;
  let timer: NodeJS.Timeout | undefined;
  let discovering: Promise<void> | undefined;

  const onChange = (owner: MailboxOwner): void => {
    known.set(bare(owner), owner);
    void scanner?.scan(owner);
  };

  async function discoverOnce(initial: boolean): Promise<void> {
    for (const { owner, maildir } of await expandTemplate(options.template)) {
      const user = bare(owner);
      if (known.has(user) && !initial) continue;
      known.set(user, owner);
      if (initial && !state.knows(user)) await scanner!.baseline(owner);
      await fs?.add(owner, maildir);
      // Catches mail that arrived before the watch was in place (or while we were down).
      await scanner!.scan(owner);
    }
    logger.debug({ users: known.size }, "Maildirs discovered");
  }

  function discover(initial = false): Promise<void> {
    discovering ??= discoverOnce(initial)
      .catch((err: Error) => logger.warn({ err: err.message }, "cannot list the Maildir root"))
      .finally(() => (discovering = undefined));
    return discovering;
  }

  return {
    async start() {
      scanner = createScanner({ resolve, state, logger, isOnline: options.isOnline, push: options.push });
      if (options.trigger === "fs") fs = createFsTrigger({ logger, onChange });
      await discover(true);
      if (options.trigger === "fs") {
        timer = setInterval(() => void discover(), DISCOVERY_INTERVAL_MS);
        timer.unref();
      } else {
        http = createHttpTrigger({ host: options.pushHost, port: options.pushPort, logger, onChange });
        // A typed error (ELISTEN) naming the address, as for the metrics listener; still exit 1.
        await http.start().catch((err: NodeJS.ErrnoException) => {
          throw new ListenError("push notifications", `${options.pushHost}:${options.pushPort}`, err);
        });
      }
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await http?.stop();
      await discovering;
      await fs?.close();
      await scanner?.idle();
    },
    async addUser(owner) {
      const user = bare(owner);
      if (known.has(user) || !scanner) return;
      known.set(user, owner);
      if (!fs) return;
      try {
        const maildir = resolve(owner);
        for (const sub of ["tmp", "new", "cur"]) await mkdir(path.join(maildir, sub), { recursive: true, mode: 0o700 });
        await fs.add(owner, maildir);
        await scanner.scan(owner);
      } catch (err) {
        known.delete(user);
        logger.warn({ user, err: (err as Error).message }, "cannot watch this user's Maildir");
      }
    },
    users: () => [...known.keys()],
  };
}
