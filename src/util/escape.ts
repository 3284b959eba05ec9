/**
 * User data shown as text: names, notes, tags, params, commands and refs
 * arrive from other clones and remotes, so a control character in them must
 * not reach the terminal (`\x1b[2J` clears it, an OSC sets its title, a
 * newline forges a line of output). As git does for paths, control
 * characters are written as escapes (`\n`, `\t`, `\r`, `\e`, else `\xNN`).
 * The one escaper for the library's messages (errors naming what a user
 * typed or a remote sent) and the CLI's output (src/cli/escape.ts).
 */

// C0, DEL and C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '\x1b': '\\e' };

export function escapeText(s: string): string {
  return s.replace(CONTROL, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
