// The MIME writer's quoted-printable encoder and line wrapper (src/mail/qp-encode.ts) against
// nodemailer's lib/qp, whose output they stand in for: mail bytes must not change (live capture,
// import and replay are compared byte for byte elsewhere).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as qp from "nodemailer/lib/qp/index.js";
import { encodeQuotedPrintable, wrapQuotedPrintable } from "../../src/mail/qp-encode.js";

// Any UTF-16 code unit sequence (lone surrogates included), weighted towards what stresses the
// rules: line breaks, "=", spaces and tabs before line ends, break characters, multi-byte UTF-8.
const piece = fc.oneof(
  fc.constantFrom("\n", "\r", "\r\n", " ", "\t", " \n", "\t\r", "=", "=0A", "=3D", ".", ",", "!", "?", "-", "a", "ä", "é", "☕", "😀", "\ud800", "\udc00", "\u2028", "\u0000", "\u007f"),
  fc.string({ minLength: 1, maxLength: 120, unit: "binary" }),
  fc.string({ minLength: 1, maxLength: 200 }),
  fc.integer({ min: 1, max: 90 }).map((n) => "x".repeat(n)),
);
const text = fc.array(piece, { maxLength: 40 }).map((a) => a.join(""));

test("encodeQuotedPrintable is nodemailer's qp.encode, character for character", () => {
  fc.assert(
    fc.property(text, (s) => {
      assert.equal(encodeQuotedPrintable(s), qp.encode(s));
    }),
    { numRuns: 3000, seed: 8 },
  );
});

test("wrapQuotedPrintable is nodemailer's qp.wrap, on encoded text and on raw text", () => {
  fc.assert(
    fc.property(text, fc.constantFrom(76, 76, 76, 4, 10, 40), (s, width) => {
      const encoded = qp.encode(s);
      assert.equal(wrapQuotedPrintable(encoded, width), qp.wrap(encoded, width));
      // The stanza part's shape: lone CR and LF escaped, CRLF kept.
      const binary = encoded.replace(/\r\n|\r|\n/g, (m) => (m === "\r\n" ? m : m === "\r" ? "=0D" : "=0A"));
      assert.equal(wrapQuotedPrintable(binary, width), qp.wrap(binary, width));
      // Not what the writer passes, but the rules must hold on any string.
      assert.equal(wrapQuotedPrintable(s, width), qp.wrap(s, width));
    }),
    { numRuns: 3000, seed: 15 },
  );
});

test("real chat shapes: long lines of non-ASCII, escapes at every line end position", () => {
  for (const unit of ["Grüße aus Köln ☕ ", "see you at eight, ok? ", "ääää", "😀", "a=b ", "x\ty\n", "line\r\n"]) {
    for (let n = 1; n < 200; n++) {
      const s = unit.repeat(n);
      const encoded = qp.encode(s);
      assert.equal(encodeQuotedPrintable(s), encoded);
      assert.equal(wrapQuotedPrintable(encoded, 76), qp.wrap(encoded, 76));
      for (let cut = 0; cut < 4; cut++) assert.equal(wrapQuotedPrintable("y".repeat(cut) + encoded, 76), qp.wrap("y".repeat(cut) + encoded, 76));
    }
  }
});
