// Controls (CR, LF, NUL, …) would end or corrupt a header line; turn any run of them into a space.
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f]+/g;

export function headerSafe(value: string): string {
  return value.replace(CONTROLS, " ").trim();
}
