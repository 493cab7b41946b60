// The commander program. Thin: parse, load a typed config, call the library.
import { Command, Option } from "commander";
import { RUN_OPTIONS } from "../config/index.js";
import { registerImport } from "./import.js";
import { registerReplay } from "./replay.js";
import { checkCommand } from "./check.js";
import { runCommand } from "./run.js";

export function buildProgram(version: string): Command {
  const program = new Command("xmpp-maildir")
    .description("Archive XMPP messages into per-user Maildirs that Dovecot serves over IMAP")
    .version(version)
    .showHelpAfterError("(run with --help for usage)");

  addRunOptions(program.command("run").description("connect to the XMPP server as a component (XEP-0114) and archive messages")).action(
    (opts: Record<string, string | boolean | undefined>) => runCommand(readRunFlags(opts)),
  );
  addRunOptions(
    program.command("check").description("check a setup: the config, the Maildir root and state dir, the component port and handshake"),
  ).action((opts: Record<string, string | boolean | undefined>) => checkCommand(readRunFlags(opts)));
  registerReplay(program);
  registerImport(program);
  return program;
}

/** The flags of `run`, from the one option table; `check` takes the same, to check the same setup. */
function addRunOptions(command: Command): Command {
  command.option("--config <file>", "TOML config file; its keys are the flag names (also XMPP_MAILDIR_CONFIG)");
  for (const spec of RUN_OPTIONS) {
    const defaultText = "default" in spec ? ` (default: ${spec.default})` : "required" in spec && spec.required ? " (required)" : "";
    // No commander defaults: the config loader applies them, after the file and the environment.
    // A boolean is a bare switch on the command line; env and TOML say true or false.
    const flag = spec.kind === "boolean" ? `--${spec.name}` : `--${spec.name} <${spec.valueName}>`;
    command.addOption(new Option(flag, `${spec.description}${defaultText}`));
  }
  return command.addHelpText(
    "after",
    "\nEvery flag can also be set as XMPP_MAILDIR_<FLAG> (e.g. XMPP_MAILDIR_XMPP_PORT) or in the --config file.\n" +
      "The component secret comes from XMPP_MAILDIR_SECRET or --secret-file, never from a flag.",
  );
}

function readRunFlags(opts: Record<string, string | boolean | undefined>): { flags: Record<string, string | undefined>; configFile: string | undefined } {
  const flags: Record<string, string | undefined> = {};
  for (const spec of RUN_OPTIONS) {
    const value = opts[camel(spec.name)];
    flags[spec.name] = typeof value === "boolean" ? String(value) : value;
  }
  return { flags, configFile: typeof opts.config === "string" ? opts.config : undefined };
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
