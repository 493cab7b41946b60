// Unique file names per the Maildir spec (https://cr.yp.to/proto/maildir.html, "How a message is
// delivered"): <seconds>.M<microseconds>P<pid>Q<count>R<random>.<host>, plus Dovecot's ",S=<size>"
// (https://doc.dovecot.org/2.3/admin_manual/mailbox_formats/maildir/#maildir-filename-extensions)
// so Dovecot learns the size from the name instead of a stat() per message.
import os from "node:os";
import { randomBytes } from "node:crypto";

export interface NameSource {
  /**
   * A new unique base name for a message of `size` bytes, as it stands in tmp/ and new/. `atMs`
   * (milliseconds since the epoch, fractions kept) is the time the name carries; default now.
   */
  next(size: number, atMs?: number): string;
}

export function createNameSource(options: { hostname?: string; pid?: number } = {}): NameSource {
  // The spec asks that '/' and ':' in the host name be written as \057 and \072, because '/'
  // would make a path and ':' starts the info suffix (":2,S") that Dovecot appends in cur/.
  const host = (options.hostname ?? os.hostname()).replaceAll("/", "\\057").replaceAll(":", "\\072");
  const pid = options.pid ?? process.pid;
  // The counter plus the pid make names unique within one host; the random part keeps two
  // processes that share a Maildir root across hosts (or a recycled pid) from ever colliding.
  let count = 0;
  // One call into the CSPRNG per 512 names instead of one per name (it showed in profiles).
  let pool = Buffer.alloc(0);
  let used = 0;
  return {
    next(size, atMs) {
      const micros = BigInt(Math.round((atMs ?? performance.timeOrigin + performance.now()) * 1000));
      const seconds = micros / 1_000_000n;
      const usec = micros % 1_000_000n;
      count += 1;
      if (used + 4 > pool.length) {
        pool = randomBytes(2048);
        used = 0;
      }
      const random = pool.toString("hex", used, (used += 4));
      return `${seconds}.M${usec}P${pid}Q${count}R${random}.${host},S=${size}`;
    },
  };
}
