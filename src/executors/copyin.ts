/**
 * A directory of this machine copied to a host (`git run export --host`,
 * Runhouse's `to(system)`): one tar stream through the host's shell,
 * unpacked beside the destination and moved into place, so the destination
 * appears whole or not at all. A destination that exists is refused: the
 * copy never mixes with what is there.
 */
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import type { HostShell } from '../transport/shell.js';
import { shQuote } from '../util/shell.js';
import { ErrorCode, GitRunError } from '../errors/index.js';

/** Exit status of the receiving script when the destination exists. */
const EXISTS = 4;

/** Copy `localDir`'s content to `remotePath` on the host (relative: to the login directory); returns the absolute path there. */
export async function copyDirToShell(shell: HostShell, localDir: string, remotePath: string): Promise<string> {
  const receive = [
    `P=${shQuote(remotePath)}; case "$P" in /*) ;; *) P="$HOME/$P" ;; esac`,
    `if [ -e "$P" ] || [ -L "$P" ]; then echo "$P" >&2; exit ${EXISTS}; fi`,
    `mkdir -p "$(dirname "$P")" && t=$(mktemp -d "$P.tmp-XXXXXXXX") || exit 3`,
    `tar -x -f - -C "$t" || { rm -rf "$t"; exit 3; }`,
    // Another copy may have taken the name meanwhile: mv -T never moves into it.
    `mv -T "$t" "$P" 2>/dev/null || { rm -rf "$t"; echo "$P" >&2; exit ${EXISTS}; }`,
    `printf '%s' "$P"`,
  ].join('\n');
  const tar = spawn('tar', ['-c', '-f', '-', '-C', localDir, '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tarErr = '';
  tar.stderr.on('data', (d: Buffer) => (tarErr += d.toString()));
  const exited = new Promise<number | null>((resolve) => tar.on('close', (c: number | null) => resolve(c)));
  // Piped at once, as the inputs' tar stream is: left unpiped until the ssh channel opened, it reached the host empty.
  const r = await shell.exec(receive, tar.stdout.pipe(new PassThrough()));
  const code = await exited;
  if (r.code === EXISTS) {
    throw new GitRunError(ErrorCode.DestinationNotEmpty, `${r.stderr.trim() || remotePath} already exists on ${shell.target.alias}`, 'choose a new path: --host <profile>:<path>', { host: shell.target.alias, path: remotePath });
  }
  if (code !== 0) throw new GitRunError(ErrorCode.Git, `tar of the exported runs failed (exit ${code}): ${tarErr.trim()}`, 'check that the export directory is readable');
  if (r.code !== 0) {
    throw new GitRunError(ErrorCode.SshFailed, `on ${shell.target.alias}: the copy could not be placed at ${remotePath} (exit ${r.code ?? r.signal}): ${r.stderr.trim() || 'no message'}`, 'check that the path is writable there and that the host has tar', { host: shell.target.alias });
  }
  return r.stdout.toString('utf8');
}
