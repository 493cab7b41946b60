import type { RunConfig } from "../config/index.js";
import { checkMaildirRoot, checkStateDir, checkUser } from "./disk.js";
import type { CheckResult } from "./types.js";
import { checkXmpp } from "./xmpp.js";

export type { CheckResult };

/** Every check of a setup that has a valid config, in the order an admin would fix them. */
export async function runChecks(config: RunConfig): Promise<CheckResult[]> {
  return [checkUser(), await checkMaildirRoot(config), await checkStateDir(config), await checkXmpp(config)];
}
