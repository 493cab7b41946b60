// The render worker ./render-pool.ts starts: serves its batches with the real renderMail.
import { renderMail } from "../../mail/index.js";
import { serveRenders } from "./render-serve.js";

serveRenders(renderMail);
