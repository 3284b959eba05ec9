/**
 * `git run gc --host` on an ssh host: one POSIX shell script, given what to
 * keep, removes the rest of git-run's directory there (./remote.ts has the
 * layout): code caches no live run uses, run directories of runs that are
 * not live, input cache entries no live run places and no run directory
 * links, interrupted copies and the trash. It also keeps what it cannot tell
 * is over: a run directory without an exit status whose wrapper process is
 * alive (a run of another clone sharing the directory) and the code it
 * names, and anything changed within the grace period (a run starting
 * meanwhile). The script is built by a pure function and run by whatever
 * reaches the host, so the Slurm executor runs the same one through its own
 * shell.
 */
import type { Repo } from '../../git/repo.js';
import type { HostGcReport, HostKeep } from '../executor.js';
import { shQuote } from '../../util/shell.js';
import { connection } from '../../transport/ssh.js';
import type { HostShell } from '../../transport/shell.js';
import { ErrorCode, GitRunError } from '../../errors/index.js';
import { CODE_REFS, OUTPUT_REFS, STORE_DIR } from './store.js';

export interface HostGcInput {
  /** git-run's directory on the host (remote_dir): absolute, or relative to $HOME. */
  base: string;
  /** Directories under base that hold run directories (run_dir values: 'runs' by default). */
  runParents: string[];
  /** What stays: code trees, run ids, input cache entry names. */
  codes: string[];
  runs: string[];
  inputs: string[];
  /** Whole minutes: anything changed more recently stays (0: no grace). */
  graceMinutes: number;
  dryRun: boolean;
}

/** A run_dir we may look under: relative, plain components (a recorded value comes from any clone). */
const safeParent = (p: string) => !!p && !p.startsWith('/') && p.split('/').every((c) => c && c !== '.' && c !== '..');
const HEX = /^[0-9a-f]{40,64}$/;

/** Lines of the list as a here-document-free shell word: one quoted argument per item, written to a file. */
const listFile = (file: string, items: string[]) => `printf '%s\\n' ${items.length ? items.map(shQuote).join(' ') : "''"} > "$T/${file}"`;

/** The script: prints `rm <kind> <KiB> <path>` for each removal, `alive <path>` for each run directory kept as running, then `done`. */
export function hostGcScript(input: HostGcInput): string {
  const parents = [...new Set(input.runParents.filter(safeParent))];
  const g = Math.max(0, Math.floor(input.graceMinutes));
  // recent PATH: changed within the grace period (find prints it).
  const recent = g > 0 ? `[ -n "$(find "$1" -maxdepth 0 \\( -mmin -${g} -o -cmin -${g} \\) 2>/dev/null)" ]` : 'false';
  return [
    `B=${shQuote(input.base)}; case "$B" in /*) ;; *) B="$HOME/$B" ;; esac`,
    '[ -d "$B" ] || { echo done; exit 0; }',
    'cd "$B" || exit 1',
    'T=$(mktemp -d) || exit 1',
    `trap 'rm -rf "$T"' EXIT`,
    listFile('code', input.codes.filter((c) => HEX.test(c))),
    listFile('runs', input.runs.filter((c) => HEX.test(c))),
    listFile('inputs', input.inputs.filter((c) => /^[0-9a-f]{40,64}(\.lfs)?(\.x)?$/.test(c))),
    `recent() { ${recent}; }`,
    `drop() { k=$(du -sk -- "$2" 2>/dev/null | cut -f1); echo "rm $1 \${k:-0} $2"; ${input.dryRun ? ':' : 'rm -rf -- "$2"'}; }`,
    'has() { grep -qxF -- "$2" "$T/$1"; }',
    // Run directories first: the ones that stay name the code they use.
    `for P in ${parents.length ? parents.map(shQuote).join(' ') : "''"}; do`,
    '  [ -n "$P" ] && [ -d "$P" ] && [ ! -L "$P" ] || continue',
    '  for d in "$P"/*; do',
    '    [ -d "$d" ] && [ ! -L "$d" ] || continue',
    '    id=${d##*/}',
    '    if has runs "$id" || recent "$d"; then cat "$d/tree" 2>/dev/null >> "$T/code"; continue; fi',
    '    if [ ! -e "$d/exit" ] && w=$(cat "$d/wrapper" 2>/dev/null) && [ -n "$w" ] && { kill -0 "$w" 2>/dev/null || [ -d "/proc/$w" ]; }; then',
    '      echo "alive $d"; cat "$d/tree" 2>/dev/null >> "$T/code"; continue',
    '    fi',
    '    drop run "$d"',
    '  done',
    'done',
    // Outputs kept in the object store (decision 0023): a run's ref goes once its run directory is gone (and the ref is older than the grace); then the objects only it held.
    `if [ -d ${STORE_DIR}/objects ] && [ ! -L ${STORE_DIR} ] && command -v git >/dev/null 2>&1; then`,
    `  outs=0; for id in $(git --git-dir=${STORE_DIR} for-each-ref --format='%(refname:lstrip=2)' ${OUTPUT_REFS}); do`,
    '    case "$id" in *[!0-9a-f]*) continue ;; esac',
    `    if has runs "$id" || { [ -f ${STORE_DIR}/${OUTPUT_REFS}"$id" ] && recent ${STORE_DIR}/${OUTPUT_REFS}"$id"; }; then continue; fi`,
    `    kept=0; for P in ${parents.length ? parents.map(shQuote).join(' ') : "''"}; do [ -n "$P" ] && [ -d "$P/$id" ] && kept=1; done; [ $kept = 1 ] && continue`,
    `    echo "rm other 0 ${STORE_DIR}/${OUTPUT_REFS}$id"; ${input.dryRun ? ':' : `git --git-dir=${STORE_DIR} update-ref -d ${OUTPUT_REFS}"$id" && outs=1`}`,
    '  done',
    'fi',
    // Code caches: <tree>/, <tree>.ok and interrupted copies <tree>.tmp-*.
    'if [ -d code ] && [ ! -L code ]; then',
    '  for c in code/* code/.[!.]*; do',
    '    [ -e "$c" ] || [ -L "$c" ] || continue',
    '    n=${c#code/}; t=${n%%.*}',
    '    if has code "$t" || recent "$c"; then continue; fi',
    '    drop code "$c"',
    '  done',
    'fi',
    // Input cache entries: kept when a live run places them, or a run directory links them (more than one link).
    'if [ -d inputs ] && [ ! -L inputs ]; then',
    '  for f in inputs/* inputs/.[!.]*; do',
    '    [ -e "$f" ] || [ -L "$f" ] || continue',
    '    n=${f#inputs/}',
    '    if has inputs "$n" || recent "$f"; then continue; fi',
    '    if [ -f "$f" ] && [ ! -L "$f" ] && [ "$(find "$f" -maxdepth 0 -links 1 | wc -l)" = 0 ]; then continue; fi',
    '    drop input "$f"',
    '  done',
    'fi',
    // The object store (decision 0022): refs of trees no run keeps and older than the grace go, then the objects only they held.
    `if [ -d ${STORE_DIR}/objects ] && [ ! -L ${STORE_DIR} ] && command -v git >/dev/null 2>&1; then`,
    // (One git gc for both: outs says whether an outputs ref went above.)
    `  pruned=\${outs:-0}; for t in $(git --git-dir=${STORE_DIR} for-each-ref --format='%(refname:lstrip=2)' ${CODE_REFS}); do`,
    '    case "$t" in *[!0-9a-f]*) continue ;; esac',
    `    if has code "$t" || { [ -f ${STORE_DIR}/${CODE_REFS}"$t" ] && recent ${STORE_DIR}/${CODE_REFS}"$t"; }; then continue; fi`,
    `    echo "rm code 0 ${STORE_DIR}/${CODE_REFS}$t"; ${input.dryRun ? ':' : `git --git-dir=${STORE_DIR} update-ref -d ${CODE_REFS}"$t" && pruned=1`}`,
    '  done',
    `  if [ $pruned = 1 ]; then git --git-dir=${STORE_DIR} gc --prune=now --quiet; fi`,
    'fi',
    // A store filled in the background (remote.ts) works in .fill-*: one whose job is gone and older than the grace was interrupted.
    'for f in .fill-*; do [ -d "$f" ] && [ ! -L "$f" ] || continue; p=$(cat "$f/pid" 2>/dev/null); if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then continue; fi; recent "$f" || drop other "$f"; done',
    "if [ -e .trash ]; then drop other .trash; fi",
    'echo done',
  ].join('\n');
}

/** The script's answer, read as hostile: only well-formed lines count, and it must end with `done`. */
export function parseHostGc(host: string, out: string): HostGcReport {
  const report: HostGcReport = { host, removed: { code: 0, runs: 0, inputs: 0, other: 0 }, keptRunning: 0, bytesFreed: 0, paths: [] };
  const lines = out.split('\n').filter((l) => l !== '');
  if (lines[lines.length - 1] !== 'done') throw new GitRunError(ErrorCode.SshFailed, `the clean-up on host '${host}' did not finish`, 'run `git run gc --host` again; what was removed is gone, the rest is still there', { host });
  for (const l of lines.slice(0, -1)) {
    const m = /^rm (run|code|input|other) (\d{1,15}) (.+)$/.exec(l);
    if (m) {
      const kind = m[1] === 'run' ? 'runs' : m[1] === 'input' ? 'inputs' : (m[1] as 'code' | 'other');
      report.removed[kind]++;
      report.bytesFreed += Number(m[2]) * 1024;
      report.paths.push(m[3]!);
      continue;
    }
    if (/^alive .+$/.test(l)) report.keptRunning++;
  }
  return report;
}

/** What the profile and the live runs mean for the script. */
export function hostGcInput(keep: HostKeep, opts: { dryRun: boolean; graceMinutes: number }): HostGcInput {
  const args = keep.runArgs;
  const base = typeof args.remote_dir === 'string' && args.remote_dir ? args.remote_dir.replace(/\/+$/, '') : '.git-run';
  const runDir = (a: Record<string, unknown>) => (typeof a.run_dir === 'string' && a.run_dir ? a.run_dir : 'runs');
  return {
    base,
    runParents: [runDir(args), ...keep.live.map((l) => runDir(l.view.spec.runArgs))],
    codes: keep.live.map((l) => l.view.spec.code.tree),
    runs: keep.live.map((l) => l.view.id),
    inputs: keep.live.flatMap((l) => l.inputs),
    graceMinutes: opts.graceMinutes,
    dryRun: opts.dryRun,
  };
}

/** gc --host on any host shell (an ssh connection, a Slurm login node, this machine): one script. */
export async function gcOnShell(shell: HostShell, profile: string, keep: HostKeep, opts: { dryRun: boolean; graceMinutes: number }): Promise<HostGcReport> {
  return parseHostGc(profile, (await shell.run(hostGcScript(hostGcInput(keep, opts)))).toString('utf8'));
}

/** gc --host for an ssh profile: one connection, one script. */
export async function gcSshHost(_repo: Repo, profile: string, keep: HostKeep, opts: { dryRun: boolean; graceMinutes: number }): Promise<HostGcReport> {
  const alias = keep.profile?.host;
  if (!alias) throw new GitRunError(ErrorCode.BadHostProfile, `host profile '${profile}' has no "host"`, `add "host": "<name in ~/.ssh/config>" to hosts.${profile} in .runconfig`);
  return gcOnShell(await connection(alias, keep.profile?.sshConfig ?? null), profile, keep, opts);
}
