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
