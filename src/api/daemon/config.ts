/**
 * The daemon's .runconfig: reloaded on every turn of its loop, the last good
 * one kept while the file is broken (a half-edited file must not stop the
 * queue), each change of its state logged once.
 */
import os from 'node:os';
import type { Repo } from '../../git/repo.js';
import type { RunConfig } from '../../core/config.js';
import { GitRunError } from '../../errors/index.js';
import { loadRunConfig } from '../context.js';

/** Host profile -> how many runs it takes at once (its max_parallel, else this machine's CPUs). */
export function capacity(config: RunConfig, host: string): number {
  const m = config.hosts[host]?.max_parallel;
  return typeof m === 'number' && m > 0 ? m : os.cpus().length;
}

export class ConfigWatch {
  config: RunConfig = { defaults: {}, hosts: {}, experiments: {} };
  private error: string | null = null;

  constructor(
    private readonly repo: Repo,
    private readonly log: (line: string) => void,
  ) {}

  async reload(): Promise<void> {
    try {
      const next = await loadRunConfig(this.repo);
      if (this.error) this.log('.runconfig is valid again');
      this.error = null;
      this.config = next;
    } catch (e) {
      const msg = e instanceof GitRunError ? e.message.split('\n').join('; ') : String(e);
      if (msg !== this.error) this.log(`.runconfig is broken; keeping the last good configuration: ${msg}`);
      this.error = msg;
    }
  }

  capacity(host: string): number {
    return capacity(this.config, host);
  }
}
