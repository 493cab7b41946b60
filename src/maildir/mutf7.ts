// IMAP's modified UTF-7 (RFC 3501 §5.1.3): how Dovecot 2.3 names Maildir++ folder directories and
// subscriptions unless mail_location says :UTF8 (checked: a folder "Ünï room" is the directory
// ".&ANw-n&AO8- room"). Printable ASCII stands for itself, "&" is "&-", anything else is UTF-16BE
// in base64 with "," for "/", between "&" and "-".
export function encodeMutf7(name: string): string {
  let out = "";
  let pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const bytes = Buffer.alloc(pending.length * 2);
    pending.forEach((unit, i) => bytes.writeUInt16BE(unit, i * 2));
    out += `&${bytes.toString("base64").replace(/=+$/, "").replaceAll("/", ",")}-`;
    pending = [];
  };
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit >= 0x20 && unit <= 0x7e) {
      flush();
      out += unit === 0x26 ? "&-" : name[i];
    } else {
      pending.push(unit);
    }
  }
  flush();
  return out;
}

/** The inverse of encodeMutf7: a Maildir++ directory name's part back to the folder name. */
export function decodeMutf7(encoded: string): string {
  return encoded.replace(/&([A-Za-z0-9+,]*)-/g, (_, b64: string) => {
    if (b64 === "") return "&";
    const bytes = Buffer.from(b64.replaceAll(",", "/"), "base64");
    let out = "";
    for (let i = 0; i + 1 < bytes.length; i += 2) out += String.fromCharCode(bytes.readUInt16BE(i));
    return out;
  });
}
