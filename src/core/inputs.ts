/**
 * The input syntax, pure (text in, a parsed request or a problem out):
 *
 *   <run>:<path>            an artifact: a file or directory among another run's outputs
 *   <path>                  a work-tree path (gitignored files included)
 *   <dest>=<source>         either of the above, placed at <dest> in the run directory
 *
 * and in a definition, besides those strings, objects:
 *
 *   {"path": "<dest>", "from": "<run>:<path>" | "<path>", "store": true}
 *
 * `x:y` could be an artifact or a work-tree path with a colon: the parser
 * keeps both readings and resolution decides (src/api/inputs.ts): an existing
 * work-tree path wins only when no run matches `x`. A path with `=` in it
 * cannot be written as a string (the first `=` ends the destination): use the
 * object form.
 */

export interface InputRequest {
  /** What the user wrote (for messages). */
  text: string;
  /** Where the command finds it, as written (null: where it came from). */
  dest: string | null;
  /** The artifact reading of the source, if it has one. */
  artifact: { run: string; path: string } | null;
  /** The source as a work-tree path, as written. */
  source: string;
  /** Copy work-tree content into git objects (kept reachable from the run). */
  store: boolean;
}

export type Parsed = { request: InputRequest } | { problem: string };

/** Split `<run>:<path>`: the run part is a plain word (an id prefix or a name), the path is not empty. */
function artifactOf(source: string): InputRequest['artifact'] {
  const colon = source.indexOf(':');
  if (colon <= 0) return null;
  const run = source.slice(0, colon);
  const p = source.slice(colon + 1);
  if (run.includes('/') || !p) return null;
  return { run, path: p };
}

/** A command-line or definition string: `[dest=]source`. */
export function parseInput(text: string, store = false): Parsed {
  if (text.includes('\0')) return { problem: `input ${JSON.stringify(text)} contains a NUL byte` };
  const eq = text.indexOf('=');
  const dest = eq >= 0 ? text.slice(0, eq) : null;
  const source = eq >= 0 ? text.slice(eq + 1) : text;
  if (dest === '') return { problem: `input '${text}' has an empty destination before '='` };
  if (!source) return { problem: `input '${text}' names no source: expected <run>:<path> or a work-tree path` };
  return { request: { text, dest, artifact: artifactOf(source), source, store } };
}

/** A definition's entry: a string as on the command line, or {path, from, store}. */
export function parseInputEntry(raw: unknown): Parsed {
  if (typeof raw === 'string') return parseInput(raw);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { problem: 'expected "<run>:<path>", a work-tree path, "dest=<source>", or an object {"path", "from", "store"}' };
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !['path', 'from', 'store'].includes(k));
  if (unknown.length) return { problem: `unknown key ${JSON.stringify(unknown[0])}: an input object has "path", "from" and "store"` };
  if (typeof o.from !== 'string' || !o.from) return { problem: '"from" must be "<run>:<path>" or a work-tree path' };
  if (o.path !== undefined && (typeof o.path !== 'string' || !o.path)) return { problem: '"path" must be a non-empty string (where the command finds the input)' };
  if (o.store !== undefined && typeof o.store !== 'boolean') return { problem: '"store" must be true or false' };
  const from = o.from;
  if (from.includes('\0') || (typeof o.path === 'string' && o.path.includes('\0'))) return { problem: 'contains a NUL byte' };
  const dest = typeof o.path === 'string' ? o.path : null;
  return { request: { text: dest === null ? from : `${dest}=${from}`, dest, artifact: artifactOf(from), source: from, store: o.store === true } };
}

/** The name git (or a file system under it) takes for .git, in any spelling (as src/git/outputs.ts refuses among outputs). */
const isDotGit = (name: string) => {
  const n = name.toLowerCase().replace(/[. ]+$/, '');
  return n === '.git' || n === 'git~1';
};

/**
 * A destination made canonical ('a/b', '/'-separated, no '.', no empty
 * components), or the problem with it: absolute, `..`, the run's own
 * directory (`reserved`) or a .git component.
 */
export function normalizeDest(dest: string, reserved: string): { path: string } | { problem: string } {
  if (dest.startsWith('/') || /^[A-Za-z]:[\\/]/.test(dest)) return { problem: `the destination '${dest}' is absolute: an input is placed inside the run directory` };
  const parts = dest.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) return { problem: `the destination '${dest}' contains '..': an input is placed inside the run directory` };
  if (!parts.length) return { problem: `the destination '${dest}' is the run directory itself` };
  if (parts.some(isDotGit)) return { problem: `the destination '${dest}' has a .git component` };
  if (parts[0] === reserved) return { problem: `the destination '${dest}' is inside ${reserved}/, which is git-run's own` };
  return { path: parts.join('/') };
}

/** The first pair of destinations where one is the other or lies inside it. */
export function overlapping(paths: readonly string[]): [string, string] | null {
  // A handful of inputs: every pair.
  for (let i = 0; i < paths.length; i++) {
    for (let j = i + 1; j < paths.length; j++) {
      const [a, b] = [paths[i]!, paths[j]!];
      if (a === b || b.startsWith(a + '/') || a.startsWith(b + '/')) return [a, b];
    }
  }
  return null;
}

/** Every directory above a path: 'a/b/c' -> ['a', 'a/b']. */
export function ancestors(p: string): string[] {
  const parts = p.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** What `$GIT_RUN_INPUTS` holds for each input (JSON array). */
export function inputsEnv(inputs: ReadonlyArray<{ path: string; oid: string; type: string; from?: { run: string; path: string }; worktree?: string }>): string {
  return JSON.stringify(inputs.map((i) => ({ path: i.path, oid: i.oid, type: i.type, ...(i.from ? { from: i.from } : { worktree: i.worktree ?? null }) })));
}
