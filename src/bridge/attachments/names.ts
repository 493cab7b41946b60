// A file name from a stranger's mail, made safe to hand on: it names an upload slot (and so a path
// on the upload service's disk and a URL), shows in the user's chat and goes into a reply's MIME.
// The sender chose it, so it may hold path separators ("../../etc/passwd"), control and bidi
// characters (U+202E makes "gpj.exe" look like "exe.jpg"), or 300 characters.

/**
 * Prosody 0.12's mod_http_file_share and ejabberd's mod_http_upload keep the name in the path;
 * file systems stop at 255 bytes, and a chat line does not need more.
 */
export const MAX_NAME_CHARS = 100;
/** An extension longer than this is not one (".tar.gz" fits, a 300-character tail does not). */
const MAX_EXTENSION_CHARS = 10;

/** Extensions for the name we make up when a mail gives none (what clients use to pick a viewer). */
const EXTENSIONS: Readonly<Record<string, string>> = {
  "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp", "application/pdf": ".pdf",
  "text/plain": ".txt", "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "video/mp4": ".mp4", "application/zip": ".zip",
};

/**
 * A safe file name: the last path segment only, control, format (bidi) and separator characters
 * removed, no leading dots, at most MAX_NAME_CHARS characters with the extension kept; "attachment"
 * (with an extension for its media type) when nothing is left.
 */
export function safeFileName(name: string | undefined, mediaType?: string): string {
  const last = (name ?? "").split(/[/\\]/).at(-1) ?? "";
  let cleaned = last
    .normalize("NFC")
    // Cc: C0/C1 controls (CR, LF, NUL); Cf: format characters (bidi overrides, zero-width);
    // Zl/Zp: line and paragraph separators. Also characters Windows and URLs choke on.
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}<>:"|?*]/gu, "")
    .replace(/\s+/gu, " ")
    .trim()
    .replace(/^[.\s]+/u, "");
  if (cleaned === "") cleaned = `attachment${EXTENSIONS[mediaType?.toLowerCase() ?? ""] ?? ""}`;
  const chars = [...cleaned];
  if (chars.length <= MAX_NAME_CHARS) return cleaned;
  const dot = cleaned.lastIndexOf(".");
  const ext = dot > 0 && cleaned.length - dot <= MAX_EXTENSION_CHARS ? cleaned.slice(dot) : "";
  const stem = [...cleaned.slice(0, cleaned.length - ext.length)].slice(0, MAX_NAME_CHARS - [...ext].length - 1).join("");
  return `${stem.trimEnd()}…${ext}`;
}
