// Preloaded into the component by bench/e2e.ts (NODE_OPTIONS=--import=…) when BENCH_CPU_PROF=DIR
// is set: Node refuses --cpu-prof in NODE_OPTIONS, so this starts V8's sampling profiler (1 ms,
// as --cpu-prof does) through node:inspector and writes DIR/component-<pid>.cpuprofile on exit.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import path from "node:path";

const dir = process.env.XMD_BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 1000 });
  session.post("Profiler.start");
  // A session on the same thread answers synchronously, so this works inside "exit".
  process.on("exit", () => {
    session.post("Profiler.stop", (err, result) => {
      if (!err) writeFileSync(path.join(dir, `component-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
