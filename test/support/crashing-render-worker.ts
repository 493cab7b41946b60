// The real render worker, except that a message whose body is "crash" kills the thread (before
// the render's reply, which is asynchronous, can leave): for test/unit/render-pool.test.ts.
import { parentPort } from "node:worker_threads";
import "../../src/mail/render-worker.js";

parentPort!.on("message", (request: { record: { body: string } }) => {
  if (request.record.body === "crash") process.exit(1);
});
