/**
 * A "host shell": where an executor's POSIX shell steps run. Either an ssh
 * connection (./ssh.ts) or this machine through child_process, so the ssh
 * executor's scripts (code cache, input staging, output collection, the
 * exit wrapper) serve the Slurm executor on a login node reached with ssh and
 * on this machine alike (Runaway's --on-local) without a second copy.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import type { Readable } from 'node:stream';
import { ErrorCode, GitRunError } from '../errors/index.js';

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: string;
}

/** A long answer read as a stream (a large outputs archive). */
export interface ShellStream {
  stdout: Readable;
  stderr: Readable;
  /** The script's exit code (null: killed, or the link broke). */
  exited: Promise<number | null>;
  /** Stop it: the answer is no longer wanted. */
  close(): void;
}

export interface HostShell {
  /** Which host, for messages and for keys of per-host state. */
  readonly target: { alias: string; hostname: string };
  /** Run a script to completion; `input` is its standard input. */
  exec(script: string, input?: Buffer | string | Readable, onStdout?: (d: Buffer) => void): Promise<ExecResult>;
  /** Run a script and fail with its stderr unless it exits 0 (a GitRunError whose data.exitCode is a number: it ran and failed). */
  run(script: string, input?: Buffer | string | Readable): Promise<Buffer>;
  /** Run a script whose standard output is read as a stream. */
  stream(script: string): Promise<ShellStream>;
}

/** The error of a step that ran and failed; `exitCode` tells it from a link that broke (no exitCode: the outcome is unknown). */
export function stepFailed(alias: string, r: ExecResult): GitRunError {
  return new GitRunError(ErrorCode.SshFailed, `on ${alias}: a step failed (exit ${r.code ?? r.signal}): ${r.stderr.trim() || 'no message'}`, 'check the host profile and that the host has a POSIX shell, tar and GNU find', { host: alias, exitCode: r.code, stderr: r.stderr.trim() });
}

/** This machine as a host shell: each step a `sh -c`, with the environment of this process. */
class LocalShell implements HostShell {
  readonly target = { alias: 'this machine', hostname: os.hostname() };

  exec(script: string, input?: Buffer | string | Readable, onStdout?: (d: Buffer) => void): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', script], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (onStdout ? onStdout(d) : out.push(d)));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', (e) => reject(new GitRunError(ErrorCode.SshFailed, `cannot start sh on this machine: ${e.message}`, 'check that /bin/sh exists')));
      child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err }));
      if (input !== undefined) {
        // A script that exits before reading all of its input is its own answer, not a crash of ours.
        child.stdin!.on('error', () => undefined);
        if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin!.end(input);
        else input.pipe(child.stdin!);
      }
    });
  }

  async run(script: string, input?: Buffer | string | Readable): Promise<Buffer> {
    const r = await this.exec(script, input);
    if (r.code !== 0) throw stepFailed(this.target.alias, r);
    return r.stdout;
  }

  async stream(script: string): Promise<ShellStream> {
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => {
      child.on('error', () => resolve(null));
      child.on('close', (c) => resolve(c));
    });
    return { stdout: child.stdout, stderr: child.stderr, exited, close: () => void child.kill('SIGKILL') };
  }
}

const local = new LocalShell();

/** This machine's shell (one for the process). */
export const localShell = (): HostShell => local;
