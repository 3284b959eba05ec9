/**
 * Quoting for POSIX shell scripts that git-run writes (remote steps over
 * ssh, the hook shim): every value from outside is one single-quoted word.
 */

/** Quote one word for a POSIX shell: every byte arrives as it is. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
