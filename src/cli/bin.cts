#!/usr/bin/env node
// The installed command (package.json "bin"): sizes libuv's thread pool for the commands that
// write mail (./thread-pool.cts says why), then runs ./main.js. The size can only be set before the
// pool starts, and in an ES module Node's loader has started it before the first line runs, hence
// this CommonJS file. A size the user set wins.
import { POOLED_COMMANDS, THREAD_POOL_SIZE } from "./thread-pool.cjs";

const command = process.argv.slice(2).find((arg) => !arg.startsWith("-"));
if (command !== undefined && POOLED_COMMANDS.has(command)) process.env.UV_THREADPOOL_SIZE ??= THREAD_POOL_SIZE;
void import("./main.js");
