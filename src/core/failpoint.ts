/**
 * Crash points for tests. A process armed with a point's name (the daemon
 * arms itself from GIT_RUN_FAILPOINT and removes the variable, so that what
 * it starts is not armed) kills itself with SIGKILL on reaching that point:
 * a crash exactly there, with no cleanup, as a power cut would leave it.
 * Unarmed, a point costs one comparison.
 */
let armed: string | null = null;

export function armFailpoint(name: string | null): void {
  armed = name || null;
}

export function failpoint(name: string): void {
  if (armed !== null && armed === name) process.kill(process.pid, 'SIGKILL');
}
