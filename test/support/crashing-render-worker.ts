// The real render worker, except that a message whose body is "crash" kills the thread while it
// is being rendered (possibly mid-batch): for test/unit/render-pool.test.ts.
import { renderMail } from "../../src/mail/index.js";
import { serveRenders } from "../../src/replay/targets/render-serve.js";

serveRenders((record, options) => (record.body === "crash" ? process.exit(3) : renderMail(record, options)));
