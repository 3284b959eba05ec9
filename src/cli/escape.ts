/**
 * User data shown as text: names, notes, tags, params and commands arrive
 * from other clones, so a control character in them must not reach the
 * terminal (`\x1b[2J` clears it, an OSC sets its title, a newline forges a
 * line of output). As git does for paths, control characters are written
 * as escapes (`\n`, `\t`, `\r`, `\e`, else `\xNN`), on a terminal and when
 * piped alike; `--json` stays exact. Every place the CLI prints user data
 * goes through escapeText (src/util/escape.ts, shared with the library's
 * error messages).
 */

import { escapeText } from '../util/escape.js';

export { escapeText };

/** Text of several lines (notes): each line escaped, the line breaks kept. */
export function escapeLines(s: string): string[] {
  return s.split('\n').map(escapeText);
}

/** Bytes that are not text, shown as printable ASCII and `\xNN`. */
export function escapeBytes(b: Buffer): string {
  let out = '';
  for (const x of b) out += x >= 0x20 && x < 0x7f && x !== 0x5c ? String.fromCharCode(x) : `\\x${x.toString(16).padStart(2, '0')}`;
  return out;
}
