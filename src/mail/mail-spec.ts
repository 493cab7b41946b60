// What render.ts decides about a mail, in the shape of nodemailer's MailComposer options (the
// subset render.ts uses), plus the two changes it makes to the composed tree. Both writers read
// it: ./mime-writer.ts (every mail it can write) and ./composer.ts (MailComposer itself: the
// reference the writer is tested against, and the fallback for shapes the writer leaves to it).

export interface MailAddress {
  readonly name: string;
  readonly address: string;
}

export interface MailAlternative {
  readonly contentType: string;
  readonly content: string;
  readonly contentTransferEncoding: "quoted-printable";
}

export interface MailAttachment {
  readonly contentType: string;
  readonly content: Buffer;
  readonly filename: string;
  readonly contentDisposition: "inline" | "attachment";
  readonly headers?: { readonly "Content-ID": string };
}

export interface MailSpec {
  readonly from: MailAddress;
  readonly to: MailAddress;
  readonly sender?: MailAddress;
  readonly subject: string;
  readonly date: Date;
  readonly messageId: string;
  readonly inReplyTo?: string;
  readonly references?: readonly string[];
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string | Buffer;
  readonly textEncoding: "quoted-printable";
  readonly html?: string;
  readonly alternatives: readonly [MailAlternative];
  readonly attachments?: readonly MailAttachment[];
}

/** After composing: hidden headers on the first part of a multipart/mixed, and a reaction's text part. */
export interface MailShape {
  readonly hidden: Readonly<Record<string, string>> | undefined;
  readonly reaction: boolean;
}
