// The real render worker, except that a message whose body is "crash" kills the thread before it
// can answer (render-worker's reply is asynchronous): for test/unit/render-pool.test.ts.
import { parentPort } from "node:worker_threads";
import "../../src/replay/targets/render-worker.js";

parentPort?.on("message", (request: { record: { body: string } }) => {
  if (request.record.body === "crash") process.exit(3);
});
