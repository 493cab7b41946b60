// The commander program. Thin: parse, load a typed config, call the library.
import { Command, Option } from "commander";
import { RUN_OPTIONS } from "../config/index.js";
import { registerImport } from "./import.js";
import { registerReplay } from "./replay.js";
import { runCommand } from "./run.js";

export function buildProgram(version: string): Command {
  const program = new Command("xmpp-maildir")
    .description("Archive XMPP messages into per-user Maildirs that Dovecot serves over IMAP")
    .version(version)
    .showHelpAfterError("(run with --help for usage)");

  const run = program
    .command("run")
    .description("connect to the XMPP server as a component (XEP-0114) and archive messages")
    .option("--config <file>", "TOML config file; its keys are the flag names (also XMPP_MAILDIR_CONFIG)");
  for (const spec of RUN_OPTIONS) {
    const defaultText = "default" in spec ? ` (default: ${spec.default})` : "required" in spec && spec.required ? " (required)" : "";
    // No commander defaults: the config loader applies them, after the file and the environment.
    run.addOption(new Option(`--${spec.name} <${spec.valueName}>`, `${spec.description}${defaultText}`));
  }
  run.addHelpText(
    "after",
    "\nEvery flag can also be set as XMPP_MAILDIR_<FLAG> (e.g. XMPP_MAILDIR_XMPP_PORT) or in the --config file.\n" +
      "The component secret comes from XMPP_MAILDIR_SECRET or --secret-file, never from a flag.",
  );
  run.action(async (opts: Record<string, string | undefined>) => {
    const flags: Record<string, string | undefined> = {};
    for (const spec of RUN_OPTIONS) flags[spec.name] = opts[camel(spec.name)];
    await runCommand({ flags, configFile: opts.config });
  });
  registerReplay(program);
  registerImport(program);
  return program;
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
