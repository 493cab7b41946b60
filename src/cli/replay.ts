// `xmpp-maildir replay SOURCE`: archived mail back into XMPP (the default), into another Maildir
// tree (--to-maildir), or out as data (--format ndjson|xml).
import type { Command } from "commander";
import { loadReplayConfig, needed } from "../config/index.js";
import { ConfigError } from "../errors.js";
import { createMaildirSource, createMaildirTarget, createStreamTarget, createXmppTarget, OUTPUT_FORMATS, type OutputFormat } from "../replay/index.js";
import { addCommonOptions, configFlags, runJob, selectionOf, type Opts } from "./replay-common.js";

const RUN_KEYS = ["xmpp-host", "xmpp-port", "domain", "user-domain", "secret-file", "log-level"] as const;

export function registerReplay(program: Command): void {
  const cmd = program
    .command("replay")
    .argument("<source>", "a Maildir folder, a user's Maildir, or a template such as /var/vmail/%d/%n/Maildir")
    .description("replay archived messages into XMPP, into another Maildir tree, or out as NDJSON/XML")
    .option("--to <jid>", "XMPP: send every message to this JID instead of its archive's owner")
    .option("--to-maildir <template>", "archive again into this Maildir template (idempotent by Message-ID; keeps each mail's Message-ID, so --domain is only needed with --include-mail)")
    .option("--format <format>", `write to stdout: ${OUTPUT_FORMATS.join(" or ")}`)
    .option("--include-mail", "turn mail without an XMPP part into a normal message instead of skipping it");
  addCommonOptions(cmd, RUN_KEYS);
  cmd.addHelpText(
    "after",
    "\nWithout --to-maildir or --format, messages go back into XMPP through the component connection\n" +
      "(the same --xmpp-host, --xmpp-port, --domain, --secret-file/XMPP_MAILDIR_SECRET as run).",
  );
  cmd.action(async (source: string, opts: Opts) => {
    const toMaildir = opts.toMaildir as string | undefined;
    const format = opts.format as string | undefined;
    if (toMaildir !== undefined && format !== undefined) throw new ConfigError("format", "cannot be combined with --to-maildir; choose one target");
    if (format !== undefined && !OUTPUT_FORMATS.includes(format as OutputFormat)) {
      throw new ConfigError("format", `must be ${OUTPUT_FORMATS.join(" or ")}, got '${format}'`);
    }
    if (opts.to !== undefined && (toMaildir !== undefined || format !== undefined)) throw new ConfigError("to", "only applies when replaying into XMPP");
    const selection = selectionOf(opts);
    const toXmpp = toMaildir === undefined && format === undefined;
    const dryRun = opts.dryRun === true;
    const config = loadReplayConfig(
      { flags: configFlags(opts, RUN_KEYS), env: process.env, configFile: opts.config as string | undefined },
      // --to-maildir keeps the source mail's Message-IDs, so it needs --domain only for mail
      // without one of ours (--include-mail); into XMPP it is the component's own address.
      { domain: toXmpp, maildir: false, secret: toXmpp && !dryRun },
    );
    const domains = { componentDomain: config.domain, userDomain: config.userDomain };
    await runJob({
      verb: "replay",
      source: createMaildirSource({ source, includeMail: opts.includeMail === true, domains }),
      selection,
      opts,
      logLevel: config.logLevel,
      makeTarget: (logger) => {
        if (format !== undefined) return createStreamTarget({ format: format as OutputFormat, output: process.stdout, domain: config.domain });
        if (toMaildir !== undefined) return createMaildirTarget({ template: toMaildir, domain: config.domain, dryRun, key: "to-maildir" });
        return createXmppTarget({
          host: config.xmppHost,
          port: config.xmppPort,
          domain: needed(config.domain, "domain"),
          serverDomain: config.userDomain ?? needed(config.domain, "domain"),
          secret: config.secret ?? "",
          logger,
          to: opts.to as string | undefined,
          dryRun,
        });
      },
    });
  });
}
