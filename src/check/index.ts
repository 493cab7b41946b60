import { deliversToMaildir, type RunConfig } from "../config/index.js";
import { checkMaildirRoot, checkStateDir, checkUser } from "./disk.js";
import { checkLmtp } from "./lmtp.js";
import type { CheckResult } from "./types.js";
import { checkXmpp } from "./xmpp.js";

export type { CheckResult };

/** Every check of a setup that has a valid config, in the order an admin would fix them. */
export async function runChecks(config: RunConfig): Promise<CheckResult[]> {
  // Over LMTP without --maildir, no Maildir is written here: which user runs us does not matter to Dovecot.
  const maildir = config.maildir;
  return [
    ...(maildir !== undefined ? [checkUser(), await checkMaildirRoot(maildir)] : []),
    await checkStateDir(config),
    ...(deliversToMaildir(config) ? [] : [await checkLmtp(config.delivery.target, config.domain)]),
    await checkXmpp(config),
  ];
}
