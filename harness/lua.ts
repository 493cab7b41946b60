/**
 * Writing values into Prosody's Lua configuration.
 */

/**
 * A double-quoted Lua string literal. Only the escapes every Lua version
 * understands; other control characters are refused rather than guessed
 * (JSON.stringify's \u00XX means something else in Lua).
 */
export function luaString(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(value)) {
    throw new Error(`control character in Lua config value: ${JSON.stringify(value)}`);
  }
  const escaped = value
    .replace(/\\/g, "\\\\")
    .replace(/"/g, '\\"')
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t");
  return `"${escaped}"`;
}

/** A Lua array of strings: { "a", "b" }. */
export function luaStringList(values: readonly string[]): string {
  return values.length === 0 ? "{}" : `{ ${values.map(luaString).join(", ")} }`;
}
