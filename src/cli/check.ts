import { describeStorage, loadRunConfig } from "../config/index.js";
import { ConfigError } from "../errors.js";
import { runChecks, type CheckResult } from "../check/index.js";

const EXIT_FAILED = 1;
const EXIT_CONFIG = 2;

function line(result: CheckResult): string {
  const status = result.status === "ok" ? "ok  " : result.status === "warn" ? "WARN" : "FAIL";
  return `${status} ${result.name.padEnd(8)} ${result.detail}${result.fix ? `\n              fix: ${result.fix}` : ""}`;
}

export async function checkCommand(input: { flags: Record<string, string | undefined>; configFile: string | undefined }): Promise<void> {
  let config;
  try {
    config = loadRunConfig({ flags: input.flags, env: process.env, configFile: input.configFile });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.log(line({ name: "config", status: "fail", detail: err.message }));
    process.exitCode = EXIT_CONFIG;
    return;
  }
  console.log(line({ name: "config", status: "ok", detail: `domain=${config.domain} user-domain=${config.userDomain} ${describeStorage(config)}` }));
  const results = await runChecks(config);
  for (const result of results) console.log(line(result));
  if (results.some((r) => r.status === "fail")) process.exitCode = EXIT_FAILED;
}
