export { createArchiver, type Archiver, type ArchiverOptions } from "./archiver.js";
