/**
 * The run key: everything that can change a run's result, and nothing else
 * (docs/decisions/0013-run-key.md). Two runs with the same key are the same
 * experiment and the second is not run (memoization). A wrong reuse is worse
 * than a rerun, so when a part might matter it is in the key.
 *
 * The parts (KeyParts in core/record.ts) are kept in run.json, so `git run
 * why` can say which one differs. Environment values never are: each
 * variable the command sees is recorded by name with a keyed hash (HMAC) of
 * its value, the key kept outside git (see envHashKey in api/), so a pushed
 * run does not let anyone test guesses of a short secret offline; and names
 * that look like credentials are left out of the key altogether.
 *
 * Pure: no file system, no git.
 */
import crypto from 'node:crypto';
import { canonicalJson, type KeyParts } from './record.js';
import { NATIVE_RUN_ARGS } from './definition.js';

/**
 * Variables of a session that cannot change what a command computes: the
 * terminal, the display, ssh and gpg agents and the connection, the shell's
 * own bookkeeping, pagers and editors, the service manager's, npm's while it
 * runs a script. Left out of the key (still passed to the command).
 */
export const SESSION_VARIABLES: ReadonlySet<string> = new Set([
  'TERM', 'TERM_PROGRAM', 'TERM_PROGRAM_VERSION', 'TERM_SESSION_ID', 'COLORTERM', 'COLORFGBG', 'COLUMNS', 'LINES', 'TERMCAP',
  'DISPLAY', 'WAYLAND_DISPLAY', 'XAUTHORITY', 'WINDOWID', 'VTE_VERSION', 'DBUS_SESSION_BUS_ADDRESS', 'DESKTOP_SESSION', 'SESSION_MANAGER',
  'SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'SSH_CONNECTION', 'SSH_CLIENT', 'SSH_TTY', 'SSH_ASKPASS', 'GPG_AGENT_INFO', 'GPG_TTY',
  'PWD', 'OLDPWD', 'SHLVL', '_', 'PS1', 'PS2', 'PS3', 'PS4', 'PROMPT_COMMAND', 'HISTFILE', 'HISTSIZE', 'HISTFILESIZE', 'HISTCONTROL', 'HISTTIMEFORMAT',
  'MAIL', 'MAILCHECK', 'MAILPATH', 'LS_COLORS', 'LSCOLORS', 'LESS', 'LESSOPEN', 'LESSCLOSE', 'LESSHISTFILE', 'PAGER', 'MANPAGER', 'EDITOR', 'VISUAL',
  'TMUX', 'TMUX_PANE', 'STY', 'WINDOW', 'INVOCATION_ID', 'JOURNAL_STREAM', 'MANAGERPID', 'SYSTEMD_EXEC_PID', 'MOTD_SHOWN', 'SUDO_COMMAND',
  // What git sets for the programs it starts (`git run` is one, hooks are others) and commandBaseEnv does not remove: the same run typed as `git-run` must match.
  'GIT_PAGER', 'GIT_EDITOR', 'GIT_SSL_CAINFO', 'GIT_PAGER_IN_USE', 'GIT_ASKPASS', 'GIT_TERMINAL_PROMPT', 'GIT_TRACE2', 'GIT_TRACE2_EVENT',
]);

/** Prefixes of session variables (same reasoning): terminals' own, npm's, and ours (a run started from inside a run sees its parent's). */
export const SESSION_PREFIXES: readonly string[] = ['npm_', 'VSCODE_', 'KONSOLE_', 'ITERM_', 'KITTY_', 'WT_', 'GNOME_TERMINAL_', 'TERMINATOR_', 'XDG_SESSION_', 'GIT_RUN_', 'GIT_TRACE'];

/**
 * Names that look like credentials: left out of the key by default (named
 * by `why` and in run.json's keyParts.envLeftOut), so a token never shapes
 * what is stored. `.runconfig`'s key_env_include puts one back (hashed).
 */
const CREDENTIAL = /(^|_)(TOKEN|SECRET|SECRETS|PASSWORD|PASSWD|PASS|PWD|PASSPHRASE|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|SECRET_?KEY|CREDENTIALS?|AUTH|COOKIE|SESSION_?KEY|SIGNING_?KEY)($|_)/i;
export const looksLikeCredential = (name: string): boolean => CREDENTIAL.test(name) && name !== 'PWD' && name !== 'OLDPWD';

/** A glob of .runconfig's key_env_ignore / key_env_include: `*` matches any run of characters. */
export function nameGlob(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

export interface EnvRules {
  /** Globs of names to leave out as well. */
  ignore: string[];
  /** Globs of names to keep in the key even when they look like credentials or session variables. */
  include: string[];
}

export type LeftOutReason = 'session' | 'credential' | 'ignored';

/**
 * The environment as the command will see it, before git-run adds the run's
 * own variables: git's additions undone (`git run` and `git-run` must see
 * the same PATH), the hook's repository removed, declared variables over it.
 */
export function commandBaseEnv(processEnv: Record<string, string | undefined>, declared: Record<string, string>): Map<string, string> {
  const env = new Map<string, string>();
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) env.set(k, v);
  const exec = env.get('GIT_EXEC_PATH');
  const p = env.get('PATH');
  if (exec && p !== undefined && (p === exec || p.startsWith(exec + ':'))) env.set('PATH', p.slice(exec.length + 1));
  for (const v of ['GIT_EXEC_PATH', 'GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_PREFIX', 'GIT_COMMON_DIR', 'GIT_REFLOG_ACTION']) env.delete(v);
  // Output reaches the log files as it is written, not in 4 KiB blocks.
  if (!env.has('PYTHONUNBUFFERED')) env.set('PYTHONUNBUFFERED', '1');
  for (const [k, v] of Object.entries(declared)) env.set(k, v);
  return env;
}

/**
 * Split an environment into the key's part (name -> HMAC of the value) and
 * the names left out, with why.
 */
export function keyEnvironment(env: ReadonlyMap<string, string>, rules: EnvRules, hmacKey: Buffer): { hashed: Map<string, string>; leftOut: Map<string, LeftOutReason> } {
  const include = rules.include.map(nameGlob);
  const ignore = rules.ignore.map(nameGlob);
  const hashed = new Map<string, string>();
  const leftOut = new Map<string, LeftOutReason>();
  for (const name of [...env.keys()].sort()) {
    const forced = include.some((g) => g.test(name));
    let why: LeftOutReason | null = null;
    if (ignore.some((g) => g.test(name))) why = 'ignored';
    else if (!forced && isSessionVariable(name)) why = 'session';
    else if (!forced && looksLikeCredential(name)) why = 'credential';
    if (why) leftOut.set(name, why);
    else hashed.set(name, crypto.createHmac('sha256', hmacKey).update(name).update('\0').update(env.get(name)!).digest('hex').slice(0, 32));
  }
  return { hashed, leftOut };
}

/** The key-env.json blob's text: one line per variable, sorted, so that git's diff of two shows the names that changed. */
export function keyEnvText(hashed: ReadonlyMap<string, string>): string {
  return `{\n${[...hashed].map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n')}\n}\n`;
}

export function parseKeyEnv(text: string): Map<string, string> {
  const m = new Map<string, string>();
  try {
    const o = JSON.parse(text) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o)) for (const [k, v] of Object.entries(o)) if (typeof v === 'string') m.set(k, v);
  } catch {
    // A damaged or hand-made blob: compare as empty.
  }
  return m;
}

/** run_args that can change a result: those not native to git-run (passed to the executor: Slurm's resource lines). */
export function keyRunArgs(runArgs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const k of Object.keys(runArgs).sort()) if (!Object.hasOwn(NATIVE_RUN_ARGS, k) && runArgs[k] !== undefined && runArgs[k] !== null) out[k] = runArgs[k];
  return out;
}

/** The key of its parts. The names left out are recorded for `why`, but are not part of it: a new terminal variable must not rerun anything. */
export function runKeyOf(parts: KeyParts): string {
  const { envLeftOut: _leftOut, ...keyed } = parts;
  return crypto.createHash('sha256').update(canonicalJson(keyed)).digest('hex');
}

export const isSessionVariable = (name: string): boolean => SESSION_VARIABLES.has(name) || SESSION_PREFIXES.some((p) => name.startsWith(p));

/**
 * Variables that differ from one machine or user to the next without
 * changing what a command computes there: who and where the user is, the
 * search path, the shell, temporary and per-user directories. They are in
 * the run key (a change of PATH can change which python runs), but left out
 * of the portable key, which is what a run made in another clone is matched
 * on (docs/decisions/0017-sharing.md).
 */
export const MACHINE_VARIABLES: ReadonlySet<string> = new Set([
  'HOME', 'USER', 'LOGNAME', 'USERNAME', 'PATH', 'SHELL', 'HOSTNAME', 'HOST', 'TMPDIR', 'TMP', 'TEMP', 'MAIL',
  'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME', 'XDG_STATE_HOME', 'XDG_CONFIG_DIRS', 'XDG_DATA_DIRS',
]);

/**
 * The portable key: the run key with the machine variables' hashes left out
 * of its environment part (and marked, so it never equals a run key). Two
 * clones whose users share the env-key file get equal portable keys for the
 * same experiment; other variables are still compared by their HMAC.
 */
export function portableKeyOf(parts: KeyParts, hashed: ReadonlyMap<string, string> | null): string {
  const { envLeftOut: _leftOut, ...keyed } = parts;
  const env = hashed ? crypto.createHash('sha256').update(keyEnvText(new Map([...hashed].filter(([k]) => !MACHINE_VARIABLES.has(k))))).digest('hex') : null;
  return crypto.createHash('sha256').update(canonicalJson({ ...keyed, env, portable: 1 })).digest('hex');
}

/** A group's key: its children's keys, in order. */
export function groupKeyOf(childKeys: string[]): string {
  return crypto.createHash('sha256').update(canonicalJson({ kind: 'group', v: 2, children: childKeys })).digest('hex');
}

/** One difference between two runs' keys, in words and as data (`why`, `--dry-run`). */
export interface KeyDifference {
  part: 'code' | 'deps' | 'command' | 'cwd' | 'params' | 'seed' | 'inputs' | 'env' | 'runArgs' | 'recipe';
  /** What differs, for a person. */
  text: string;
  /** Names (parameters, variables, input paths) that differ, when the part has names. */
  names?: string[];
}

const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));

/** The parts of two keys that differ (the environment compared by the caller, which reads the blobs). */
export function compareKeyParts(before: KeyParts, after: KeyParts): KeyDifference[] {
  const d: KeyDifference[] = [];
  if (before.v !== after.v) return [{ part: 'recipe', text: `the earlier run's key was made by another version of git-run (recipe ${String(before.v)}, now ${after.v})` }];
  if (canonicalJson(before.deps) !== canonicalJson(after.deps)) d.push({ part: 'deps', text: `deps: ${show(before.deps)} -> ${show(after.deps)}` });
  if (before.code !== after.code) d.push({ part: 'code', text: after.deps ? `the code selected by deps changed` : 'the code changed' });
  if (canonicalJson(before.command) !== canonicalJson(after.command)) d.push({ part: 'command', text: `command: ${show(before.command)} -> ${show(after.command)}` });
  if (before.cwd !== after.cwd) d.push({ part: 'cwd', text: `directory: ${show(before.cwd || '.')} -> ${show(after.cwd || '.')}` });
  const pn = [...new Set([...Object.keys(before.params), ...Object.keys(after.params)])].sort();
  const pd = pn.filter((n) => canonicalJson(before.params[n]) !== canonicalJson(after.params[n]));
  if (pd.length) d.push({ part: 'params', text: `parameters: ${pd.map((n) => `${n} ${show(Object.hasOwn(before.params, n) ? before.params[n] : undefined)} -> ${show(Object.hasOwn(after.params, n) ? after.params[n] : undefined)}`).join(', ')}`, names: pd });
  if (before.seed !== after.seed) d.push({ part: 'seed', text: `seed: ${before.seed} -> ${after.seed}` });
  const ib = new Map(before.inputs.map((i) => [i.path, i.oid]));
  const ia = new Map(after.inputs.map((i) => [i.path, i.oid]));
  const inames = [...new Set([...ib.keys(), ...ia.keys()])].sort().filter((p) => ib.get(p) !== ia.get(p));
  if (inames.length) {
    d.push({
      part: 'inputs',
      text: `inputs: ${inames.map((p) => (!ib.has(p) ? `${p} added` : !ia.has(p) ? `${p} removed` : `${p} ${ib.get(p)!.slice(0, 10)} -> ${ia.get(p)!.slice(0, 10)}`)).join(', ')}`,
      names: inames,
    });
  }
  const rn = [...new Set([...Object.keys(before.runArgs), ...Object.keys(after.runArgs)])].sort().filter((n) => canonicalJson(before.runArgs[n]) !== canonicalJson(after.runArgs[n]));
  if (rn.length) d.push({ part: 'runArgs', text: `run_args: ${rn.map((n) => `${n} ${show(before.runArgs[n])} -> ${show(after.runArgs[n])}`).join(', ')}`, names: rn });
  return d;
}

/** The variables whose keyed hash differs between two key environments (names only). */
export function envDifference(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): { added: string[]; removed: string[]; changed: string[] } {
  const added = [...after.keys()].filter((k) => !before.has(k)).sort();
  const removed = [...before.keys()].filter((k) => !after.has(k)).sort();
  const changed = [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k)).sort();
  return { added, removed, changed };
}
