/**
 * The host's object store (decision 0022): a bare git repository under
 * remote_dir that caches code trees, input blobs and outputs as git objects,
 * so that a host receives only the objects it lacks. Refs keep what is in
 * use reachable; only `git run gc --host` drops them (and then the objects).
 * Shared by the code/input sender (./remote.ts) and the output fetcher.
 */

/** The store's path, relative to remote_dir (a shell word once joined to it and quoted). */
export const STORE_DIR = 'store.git';

/** The store of a remote_dir as given in the host profile (relative to the host's $HOME unless absolute). */
export const storePath = (base: string): string => `${base.replace(/\/+$/, '')}/${STORE_DIR}`;

/** Refs of the store: one per tree of code sent, per input blob, per run's outputs. */
export const CODE_REFS = 'refs/code/';
export const INPUT_REFS = 'refs/inputs/';
export const OUTPUT_REFS = 'refs/outputs/';

export const codeRef = (tree: string): string => `${CODE_REFS}${tree}`;
export const inputRef = (oid: string): string => `${INPUT_REFS}${oid}`;
export const outputRef = (runId: string): string => `${OUTPUT_REFS}${runId}`;

/**
 * A POSIX shell step that makes the store when missing, harmlessly when two
 * runs do it at once: each inits a private directory and renames it into
 * place; the rename of the second fails (the target is not empty) and its copy
 * is dropped. `dir` is a shell word (quoted by the caller); leaves nothing else.
 */
export const initStore = (dir: string): string =>
  `if [ ! -d ${dir}/objects ]; then mkdir -p "$(dirname ${dir})" && s=$(mktemp -d ${dir}.init-XXXXXXXX) && git init -q --bare "$s" && { mv -T "$s" ${dir} 2>/dev/null || rm -rf "$s"; }; [ -d ${dir}/objects ]; fi`;
