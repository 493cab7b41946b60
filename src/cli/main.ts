#!/usr/bin/env node
// Entry point: the only place that sets exit codes and prints for humans.
import { readFileSync } from "node:fs";
import { CommanderError } from "commander";
import { ConfigError } from "../errors.js";
import { buildProgram } from "./program.js";

/** Usage and config errors exit 2, like most Unix tools; runtime failures exit 1. */
const EXIT_USAGE = 2;

/**
 * `xmpp-maildir run --help | head`, `replay --format ndjson | head`: a reader that has gone away
 * ends our output, as SIGPIPE ends a C tool's, instead of an unhandled 'error' stack trace.
 */
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
const program = buildProgram(pkg.version);
program.exitOverride();
for (const cmd of program.commands) cmd.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander has already printed its message (or the help text).
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (err instanceof ConfigError) {
    console.error(`xmpp-maildir: ${err.message}`);
    process.exitCode = EXIT_USAGE;
  } else {
    console.error(`xmpp-maildir: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
