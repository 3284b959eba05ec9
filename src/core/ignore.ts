/**
 * Checks of .sendignore / .fetchignore files before they are used. Git reads
 * these with .gitignore rules, and silently ignores a pattern that can never
 * match; a researcher who wrote one expects it to work, so we refuse it and
 * say which line is wrong. Pure: no fs, no git.
 */
export interface IgnoreProblem {
  line: number;
  pattern: string;
  reason: string;
}

export function checkIgnorePatterns(text: string): IgnoreProblem[] {
  const problems: IgnoreProblem[] = [];
  if (text.includes('\0')) problems.push({ line: 0, pattern: '', reason: 'the file contains a NUL byte (is it a binary file?)' });
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) return;
    const body = line.startsWith('!') ? line.slice(1) : line;
    const trimmed = body.replace(/(?<!\\) +$/, '');
    const p = (reason: string) => problems.push({ line: i + 1, pattern: line, reason });
    if (trimmed === '') return p('a negation "!" with no pattern after it');
    if (trimmed === '/') return p('"/" alone matches nothing');
    if (/(^|[^\\])(\\\\)*\\$/.test(trimmed)) return p('a trailing backslash escapes nothing');
    // An unclosed character class makes git's wildmatch abort: the pattern never matches.
    let inClass = false;
    for (let j = 0; j < trimmed.length; j++) {
      const c = trimmed[j];
      if (c === '\\') {
        j++;
        continue;
      }
      if (!inClass && c === '[') {
        inClass = true;
        if (trimmed[j + 1] === '!' || trimmed[j + 1] === '^') j++;
        if (trimmed[j + 1] === ']') j++;
      } else if (inClass && c === ']') inClass = false;
    }
    if (inClass) return p('an unclosed "[" character class');
    return undefined;
  });
  return problems;
}

/**
 * Runaway matched its ignore globs against the whole path with a `*` that
 * crosses directories, so its documented `*__pycache__/*` rejects
 * `src/__pycache__/a.pyc`. In .gitignore syntax that pattern is anchored at
 * the top and its `*` stops at `/`. To keep Runaway users' files working, a
 * pattern whose first segment starts with `*` and that has a later `/` is
 * matched at any depth (we prefix `**` + `/`). Every other line is plain
 * .gitignore. See docs/decisions/0002-ignore-files.md.
 */
export function toGitPatterns(text: string): string {
  return text
    .split('\n')
    .map((raw) => {
      const neg = raw.startsWith('!') ? '!' : '';
      const body = raw.slice(neg.length);
      if (body.startsWith('*') && !body.startsWith('**') && /\/./.test(body)) return `${neg}**/${body}`;
      return raw;
    })
    .join('\n');
}
