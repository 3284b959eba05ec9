/**
 * Tokens of the `--where` language. Positions are UTF-16 offsets into the
 * expression (what String.slice takes); errors turn them into columns.
 */

export type TokenKind =
  | 'lparen' | 'rparen' | 'comma'
  /** = != < <= > >= (and == <>), normalized in `op`. */
  | 'op'
  /** && || ! */
  | 'sym'
  /** A name or a bare word: a field, a keyword, or an unquoted value. */
  | 'word'
  | 'string'
  | 'number'
  /** Starts like a number but is not one: 1.5h, 2026-11-01, 3fa9c, 1.2.3, @1700000000. */
  | 'raw'
  | 'end';

export interface Token {
  kind: TokenKind;
  /** The source text of the token. */
  text: string;
  /** Decoded value: the string's content, a field's full name with quoted parts joined, the normalized operator. */
  value: string;
  start: number;
  end: number;
  /** A word with a quoted part (params."my lr"): always a field, never a keyword or a value. */
  quoted?: boolean;
}

export class LexError extends Error {
  constructor(
    message: string,
    readonly at: number,
    readonly fix: string,
  ) {
    super(message);
  }
}

const OPS = ['==', '!=', '<>', '<=', '>=', '&&', '||', '=', '<', '>', '!'];
const OP_CHARS = /[=<>!~&|^]/;
const NORMAL: Record<string, string> = { '==': '=', '<>': '!=' };
const WORD_START = /[\p{L}_]/u;
const WORD_CHAR = /[\p{L}\p{N}_.\-]/u;
const RAW_CHAR = /[\p{L}\p{N}_.:+\-]/u;
export const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };

export const OPERATOR_HINT = 'compare with =, !=, <, <=, >, >=, in (a, b), not in (a, b), contains or not contains';

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const at = (k: number) => src[k] ?? '';
  const push = (kind: TokenKind, start: number, end: number, value = src.slice(start, end), quoted?: boolean) =>
    out.push({ kind, text: src.slice(start, end), value, start, end, ...(quoted ? { quoted } : {}) });

  const readString = (start: number): { value: string; end: number } => {
    const q = src[start]!;
    let v = '';
    let k = start + 1;
    for (;;) {
      if (k >= src.length) {
        throw new LexError(`unterminated string: no closing ${q}`, start, `close the string with ${q}; write \\${q} for a ${q} inside it`);
      }
      const c = src[k]!;
      if (c === q) return { value: v, end: k + 1 };
      if (c === '\\') {
        const e = at(k + 1);
        if (e in ESCAPES) {
          v += ESCAPES[e];
          k += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(src.slice(k + 2, k + 6))) {
          v += String.fromCharCode(parseInt(src.slice(k + 2, k + 6), 16));
          k += 6;
        } else {
          throw new LexError(
            `unknown escape '\\${e}' in a string`,
            k,
            "inside quotes a backslash starts \\\\ \\' \\\" \\n \\t \\r or \\uXXXX; write \\\\ for a backslash",
          );
        }
        continue;
      }
      v += c;
      k++;
    }
  };

  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === '(' || c === ')' || c === ',') {
      push(c === '(' ? 'lparen' : c === ')' ? 'rparen' : 'comma', i, ++i);
      continue;
    }
    if (c === "'" || c === '"') {
      const s = readString(i);
      i = s.end;
      push('string', start, i, s.value);
      continue;
    }
    if (OP_CHARS.test(c)) {
      let k = i;
      while (k < src.length && OP_CHARS.test(src[k]!)) k++;
      const run = src.slice(i, k);
      // Split the run into known operators, longest first; only an operator
      // followed by negations (`&&!`, `!!`) is several tokens: anything else
      // (`=~`, `===`, `=>`) is one operator we do not know, reported whole.
      const parts: string[] = [];
      for (let p = 0; p < run.length; ) {
        const op = OPS.find((o) => run.startsWith(o, p));
        if (!op) {
          parts.length = 0;
          break;
        }
        parts.push(op);
        p += op.length;
      }
      if (!parts.length || parts.slice(1).some((p) => p !== '!')) {
        throw new LexError(`unknown operator '${run}'`, start, OPERATOR_HINT);
      }
      for (const p of parts) {
        const kind = p === '&&' || p === '||' || p === '!' ? 'sym' : 'op';
        push(kind, i, i + p.length, NORMAL[p] ?? p);
        i += p.length;
      }
      continue;
    }
    if (/[0-9]/.test(c) || ((c === '-' || c === '.') && /[0-9]/.test(at(i + 1))) || (c === '-' && at(i + 1) === '.' && /[0-9]/.test(at(i + 2))) || (c === '@' && /[-0-9]/.test(at(i + 1)))) {
      i++;
      while (i < src.length && RAW_CHAR.test(src[i]!)) i++;
      const text = src.slice(start, i);
      push(NUMBER.test(text) ? 'number' : 'raw', start, i);
      continue;
    }
    if (WORD_START.test(c)) {
      while (i < src.length && WORD_CHAR.test(src[i]!)) i++;
      let value = src.slice(start, i);
      let quoted = false;
      // A quoted part of a name: params."my lr", params['my lr'], metrics.val['a b'].
      for (;;) {
        if (value.endsWith('.') && (at(i) === '"' || at(i) === "'")) {
          const s = readString(i);
          value += s.value;
          i = s.end;
        } else if (at(i) === '[') {
          let k = i + 1;
          while (/\s/.test(at(k))) k++;
          if (at(k) !== '"' && at(k) !== "'") throw new LexError("expected a quoted name after '['", k, "write params['my lr'] or params.\"my lr\"");
          const s = readString(k);
          k = s.end;
          while (/\s/.test(at(k))) k++;
          if (at(k) !== ']') throw new LexError("expected ']' after the quoted name", k, "write params['my lr'] or params.\"my lr\"");
          value += (value.endsWith('.') ? '' : '.') + s.value;
          i = k + 1;
        } else if (quoted && at(i) === '.') {
          const k0 = i;
          i++;
          while (i < src.length && WORD_CHAR.test(src[i]!)) i++;
          value += src.slice(k0, i);
          continue;
        } else break;
        quoted = true;
      }
      push('word', start, i, value, quoted);
      continue;
    }
    throw new LexError(`unexpected character '${String.fromCodePoint(src.codePointAt(i)!)}'`, start, 'put text values in quotes: name = \'a/b c\'');
  }
  push('end', src.length, src.length, '');
  return out;
}
