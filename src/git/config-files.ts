/**
 * core.sharedRepository read from git's configuration files in-process, so
 * that the launch path does not start `git config` for it (decision 0015).
 *
 * Where git takes the setting from (checked against git 2.39): the
 * repository's own config file first, and only its direct entries (setup.c's
 * check_repo_format reads that file without includes, and a value found
 * there is final); otherwise the whole configuration, as `git config` reads
 * it: system, global, the repository's includes, the worktree's file, and
 * `git -c` (GIT_CONFIG_PARAMETERS, GIT_CONFIG_COUNT), the last value winning.
 * https://git-scm.com/docs/git-config#FILES
 *
 * What this module cannot settle as surely as git, it does not guess: an
 * include or includeIf in a file it reads, a worktree config, `git -c`
 * settings, a line it does not understand, or a system file whose place is
 * not known (git's compiled-in prefix) answer `undefined`: ask git.
 */
import { readFileSync, realpathSync, statSync, accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** What a config file says of core.sharedRepository: undefined when absent, null when set without a value (true). */
export interface ConfigScan {
  value: string | null | undefined;
  /** The file has include or includeIf sections. */
  includes: boolean;
  /** extensions.worktreeConfig is set: a config.worktree file may add to it. */
  worktreeConfig: boolean;
}

/** The value part of `key = value`: quotes removed, escapes applied, comments and outer blanks dropped; undefined if malformed. */
function parseValue(raw: string): string | undefined {
  let out = '';
  let quoted = false;
  let pendingSpace = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (!quoted && (c === '#' || c === ';')) break;
    if (c === '"') {
      quoted = !quoted;
      out += pendingSpace;
      pendingSpace = '';
      continue;
    }
    if (c === '\\') {
      const n = raw[++i];
      const esc: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t', b: '\b' };
      if (n === undefined || !(n in esc)) return undefined;
      out += pendingSpace + esc[n]!;
      pendingSpace = '';
      continue;
    }
    if (!quoted && (c === ' ' || c === '\t')) {
      if (out !== '') pendingSpace += c;
      continue;
    }
    out += pendingSpace + c;
    pendingSpace = '';
  }
  return quoted ? undefined : out;
}

/** Scan one config file's text; undefined when a line is beyond this reader (continued lines, odd headers). */
export function scanConfig(text: string): ConfigScan | undefined {
  const scan: ConfigScan = { value: undefined, includes: false, worktreeConfig: false };
  let section = '';
  for (let line of text.split('\n')) {
    line = line.replace(/\r$/, '').trim();
    if (line.endsWith('\\')) return undefined;
    if (line.startsWith('[')) {
      const end = line.indexOf(']');
      if (end < 0) return undefined;
      const header = line.slice(1, end).trim();
      const m = /^([A-Za-z0-9.-]+)(\s+"(?:[^"\\]|\\.)*")?$/.exec(header);
      if (!m) return undefined;
      // `[core "x"]` and `[core.x]` are other sections than core.
      section = m[2] || m[1]!.includes('.') ? `${m[1]!.toLowerCase()}+sub` : m[1]!.toLowerCase();
      if (/^(include|includeif)(\+sub)?$/.test(section) || section.startsWith('include.') || section.startsWith('includeif.')) scan.includes = true;
      line = line.slice(end + 1).trim();
    }
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const k = /^([A-Za-z][A-Za-z0-9-]*)\s*(=(.*))?$/.exec(line);
    if (!k) return undefined;
    const key = k[1]!.toLowerCase();
    const value = k[2] === undefined ? null : parseValue(k[3]!);
    if (value === undefined) return undefined;
    if (section === 'core' && key === 'sharedrepository') scan.value = value;
    if (section === 'extensions' && key === 'worktreeconfig' && (value === null || /^(true|yes|on|[1-9][0-9]*)$/i.test(value))) scan.worktreeConfig = true;
  }
  return scan;
}

/** A file's scan; null when the file does not exist; undefined when it cannot be read or understood. */
function scanFile(file: string): ConfigScan | null | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? null : undefined;
  }
  return scanConfig(text);
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);

/** git's system config file: $(prefix)/etc/gitconfig, /etc/gitconfig for a git installed in /usr; undefined when git's place says nothing sure. */
function systemConfigFile(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GIT_CONFIG_SYSTEM !== undefined) return env.GIT_CONFIG_SYSTEM;
  // Elsewhere git may be a shim (macOS's /usr/bin/git) or built with a runtime prefix.
  if (process.platform !== 'linux') return undefined;
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const f = path.join(dir, 'git');
    try {
      accessSync(f, constants.X_OK);
      if (!statSync(f).isFile()) continue;
      const prefix = path.dirname(path.dirname(realpathSync(f)));
      return prefix === '/usr' ? '/etc/gitconfig' : path.join(prefix, 'etc', 'gitconfig');
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * core.sharedRepository as git would take it for the repository whose
 * common directory is `commonDir`, in the form `git config --get` prints it:
 * its value ('' when set without one), null when it is set nowhere, or
 * undefined when git must be asked.
 */
export function sharedRepositoryFromFiles(commonDir: string, env: NodeJS.ProcessEnv = process.env): string | null | undefined {
  if (env.GIT_CONFIG_PARAMETERS || env.GIT_CONFIG_COUNT) return undefined;
  const local = scanFile(path.join(commonDir, 'config'));
  if (local === undefined) return undefined;
  // Found directly in the repository's file: git looks no further.
  if (local && local.value !== undefined) return local.value ?? '';
  if (local && (local.includes || local.worktreeConfig)) return undefined;
  const home = env.HOME || os.homedir();
  const globals = env.GIT_CONFIG_GLOBAL !== undefined ? [env.GIT_CONFIG_GLOBAL] : [path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'git', 'config'), path.join(home, '.gitconfig')];
  let found: string | null | undefined;
  for (const file of globals) {
    if (!file) continue;
    const s = scanFile(file);
    if (s === undefined || s?.includes) return undefined;
    if (s && s.value !== undefined) found = s.value;
  }
  // The global level overrides the system one.
  if (found !== undefined) return found ?? '';
  if (truthy(env.GIT_CONFIG_NOSYSTEM)) return null;
  const system = systemConfigFile(env);
  if (system === undefined) return undefined;
  const s = scanFile(system);
  if (s === undefined || s?.includes) return undefined;
  return s && s.value !== undefined ? s.value ?? '' : null;
}
