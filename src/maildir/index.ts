export { compileTemplate, assertSafePart, type MaildirResolver, type MailboxOwner } from "./template.js";
export { createMaildirWriter, type MaildirWriter, type MaildirWriterOptions, type Delivered } from "./deliver.js";
export { createNameSource, type NameSource } from "./name.js";
