export { compileTemplate, templateRoot, assertSafePart, type MaildirResolver, type MailboxOwner } from "./template.js";
export { createMaildirWriter, type MaildirWriter, type MaildirWriterOptions, type Delivered, type DeliverOptions } from "./deliver.js";
export { createNameSource, type NameSource } from "./name.js";
export { listFolders, listMessages, folderPath, isMaildirFolder, expandTemplate, type MaildirFolder, type MaildirMessage, type TemplateMatch } from "./read.js";
