// Reads samples out of Prometheus' text exposition format, as a scraper would see them.

/** Labels of one sample line, e.g. {kind: "copy", status: "stored"}. */
function labelsOf(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of text.matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
  return labels;
}

/**
 * The value of the sample `name` with exactly these labels, or undefined if there is none.
 * `sample(text, "xmpp_maildir_messages_stored_total", { kind: "copy", status: "stored" })`.
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = labelsOf(m[2] ?? "");
    const want = Object.entries(labels);
    if (Object.keys(got).length === want.length && want.every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Every metric name that has a sample (histogram series included, e.g. `_bucket`). */
export function sampleNames(text: string): Set<string> {
  return new Set(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => /^[a-zA-Z_:][\w:]*/.exec(l)?.[0] ?? ""));
}
