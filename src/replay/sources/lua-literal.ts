// Reads Prosody's internal file storage (util/datamanager.lua): a ".list" file is Lua source,
// one `item(<table>);` call per stored item, written by util/serialization.lua. Only the literal
// subset that serializer emits is accepted: tables with [key] = value or positional entries, "..."
// strings with backslash escapes (bytes 127-255 come as \ddd, so strings are decoded as UTF-8 at
// the end), numbers including (1/0) forms, true, false, nil. Nothing is ever executed.
import { ErrorCodes, XmppMaildirError } from "../../errors.js";

export type LuaValue = string | number | boolean | null | LuaTable;

export interface LuaTable {
  /** Positional entries, 1-based in Lua, 0-based here. */
  readonly array: LuaValue[];
  readonly fields: Map<string | number | boolean, LuaValue>;
}

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, "\\": 92, '"': 34, "'": 39, "\n": 10 };

/** A .list file that is not the Lua literal Prosody writes; the caller reports it with the path. */
export class LuaSyntaxError extends XmppMaildirError {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(ErrorCodes.MALFORMED, `${message} at byte ${offset}`);
    this.offset = offset;
  }
}

/** The tables of every `item(...)` call in a .list file, in file order. */
export function parseListFile(data: Buffer): LuaTable[] {
  const p = new Reader(data);
  const items: LuaTable[] = [];
  for (p.space(); !p.done(); p.space()) {
    p.word("item");
    p.space();
    p.expect("(");
    const value = p.value();
    if (typeof value !== "object" || value === null) throw new LuaSyntaxError("item() without a table", p.pos);
    items.push(value);
    p.space();
    p.expect(")");
    p.space();
    if (p.peek() === ";") p.pos++;
  }
  return items;
}

class Reader {
  pos = 0;
  constructor(private readonly data: Buffer) {}

  done(): boolean {
    return this.pos >= this.data.length;
  }
  peek(): string {
    return String.fromCharCode(this.data[this.pos] ?? 0);
  }
  space(): void {
    while (!this.done() && /\s/.test(this.peek())) this.pos++;
  }
  expect(ch: string): void {
    if (this.peek() !== ch) throw new LuaSyntaxError(`expected '${ch}'`, this.pos);
    this.pos++;
  }
  word(w: string): void {
    if (this.data.toString("latin1", this.pos, this.pos + w.length) !== w) throw new LuaSyntaxError(`expected '${w}'`, this.pos);
    this.pos += w.length;
  }

  value(): LuaValue {
    this.space();
    const ch = this.peek();
    if (ch === "{") return this.table();
    if (ch === '"' || ch === "'") return this.string(ch);
    if (ch === "(") return this.special();
    for (const [w, v] of [["true", true], ["false", false], ["nil", null]] as const) {
      if (this.data.toString("latin1", this.pos, this.pos + w.length) === w) {
        this.pos += w.length;
        return v;
      }
    }
    const m = /^-?(?:0x[0-9a-fA-F]+|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)/.exec(this.data.toString("latin1", this.pos, this.pos + 64));
    if (!m) throw new LuaSyntaxError("unexpected character", this.pos);
    this.pos += m[0].length;
    return Number(m[0]);
  }

  /** (1/0), (-1/0), (0/0): how the serializer writes infinities and NaN. */
  special(): number {
    const m = /^\((-?)1\/0\)|^\(0\/0\)/.exec(this.data.toString("latin1", this.pos, this.pos + 8));
    if (!m) throw new LuaSyntaxError("unexpected '('", this.pos);
    this.pos += m[0].length;
    return m[0] === "(0/0)" ? NaN : m[1] ? -Infinity : Infinity;
  }

  table(): LuaTable {
    this.expect("{");
    const table: LuaTable = { array: [], fields: new Map() };
    for (;;) {
      this.space();
      if (this.peek() === "}") {
        this.pos++;
        return table;
      }
      if (this.peek() === "[") {
        this.pos++;
        const key = this.value();
        this.space();
        this.expect("]");
        this.space();
        this.expect("=");
        const value = this.value();
        if (typeof key === "number" && Number.isInteger(key) && key === table.array.length + 1) table.array.push(value);
        else if (typeof key === "string" || typeof key === "number" || typeof key === "boolean") table.fields.set(key, value);
        else throw new LuaSyntaxError("unsupported table key", this.pos);
      } else {
        const name = /^[A-Za-z_][A-Za-z0-9_]*(?=\s*=)/.exec(this.data.toString("latin1", this.pos, this.pos + 256));
        if (name && !["true", "false", "nil"].includes(name[0])) {
          this.pos += name[0].length;
          this.space();
          this.expect("=");
          table.fields.set(name[0], this.value());
        } else {
          table.array.push(this.value());
        }
      }
      this.space();
      if (this.peek() === ";" || this.peek() === ",") this.pos++;
      else if (this.peek() !== "}") throw new LuaSyntaxError("expected ';', ',' or '}'", this.pos);
    }
  }

  string(quote: string): string {
    this.pos++;
    const bytes: number[] = [];
    for (;;) {
      if (this.done()) throw new LuaSyntaxError("unterminated string", this.pos);
      const b = this.data[this.pos++]!;
      if (String.fromCharCode(b) === quote) return Buffer.from(bytes).toString("utf8");
      if (b !== 92) {
        bytes.push(b);
        continue;
      }
      const esc = this.peek();
      const digits = /^\d{1,3}/.exec(this.data.toString("latin1", this.pos, this.pos + 3));
      if (digits) {
        bytes.push(Number(digits[0]) & 0xff);
        this.pos += digits[0].length;
      } else if (esc in SIMPLE_ESCAPES) {
        bytes.push(SIMPLE_ESCAPES[esc]!);
        this.pos++;
      } else {
        throw new LuaSyntaxError(`unknown escape '\\${esc}'`, this.pos);
      }
    }
  }
}
