/**
 * Every error a user can cause has a stable code (never reused), a message
 * that names what is wrong, and a hint that says how to fix it. The CLI's one
 * top-level handler prints `error: <message>` and `hint: <hint>` and exits 2;
 * anything that is not a GitRunError is a bug and is reported as such.
 */
export const ErrorCode = {
  NotARepository: 'E_NOT_A_REPOSITORY',
  RunNotFound: 'E_RUN_NOT_FOUND',
  RunAmbiguous: 'E_RUN_AMBIGUOUS',
  BadRunName: 'E_BAD_RUN_NAME',
  NoCommand: 'E_NO_COMMAND',
  RunDirNotWritable: 'E_RUN_DIR_NOT_WRITABLE',
  IgnoreFileInvalid: 'E_IGNORE_FILE_INVALID',
  IgnoreFileMissing: 'E_IGNORE_FILE_MISSING',
  PathNotInRun: 'E_PATH_NOT_IN_RUN',
  BadOption: 'E_BAD_OPTION',
  DestinationNotEmpty: 'E_DESTINATION_NOT_EMPTY',
  ConfigInvalid: 'E_CONFIG_INVALID',
  DefinitionInvalid: 'E_DEFINITION_INVALID',
  UnknownExperiment: 'E_UNKNOWN_EXPERIMENT',
  UnknownHost: 'E_UNKNOWN_HOST',
  SweepTooLarge: 'E_SWEEP_TOO_LARGE',
  BadHostProfile: 'E_BAD_HOST_PROFILE',
  HostKeyUnknown: 'E_HOST_KEY_UNKNOWN',
  HostKeyChanged: 'E_HOST_KEY_CHANGED',
  SshFailed: 'E_SSH_FAILED',
  HostileArchive: 'E_HOSTILE_ARCHIVE',
  BadExpression: 'E_BAD_EXPRESSION',
  UnknownField: 'E_UNKNOWN_FIELD',
  BadDate: 'E_BAD_DATE',
  BadRevision: 'E_BAD_REVISION',
  HooksNotWritable: 'E_HOOKS_NOT_WRITABLE',
  DaemonRunning: 'E_DAEMON_RUNNING',
  DaemonNotRunning: 'E_DAEMON_NOT_RUNNING',
  CronInvalid: 'E_CRON_INVALID',
  UnknownBranch: 'E_UNKNOWN_BRANCH',
  IndexDamaged: 'E_INDEX_DAMAGED',
  IndexUnusable: 'E_INDEX_UNUSABLE',
  DiskFull: 'E_DISK_FULL',
  RunNotFinished: 'E_RUN_NOT_FINISHED',
  Git: 'E_GIT',
  BadInput: 'E_BAD_INPUT',
  LfsContent: 'E_LFS_CONTENT',
  BadBundle: 'E_BAD_BUNDLE',
  NoRemote: 'E_NO_REMOTE',
  UnknownRemote: 'E_UNKNOWN_REMOTE',
  RemoteFailed: 'E_REMOTE_FAILED',
  UpstreamMissing: 'E_UPSTREAM_MISSING',
  RunHasDependents: 'E_RUN_HAS_DEPENDENTS',
  PortInUse: 'E_PORT_IN_USE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class GitRunError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly data: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, hint?: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'GitRunError';
    this.code = code;
    this.hint = hint;
    this.data = data;
  }
}

export const isGitRunError = (e: unknown): e is GitRunError => e instanceof GitRunError;

/** No space left on a device, or a quota reached: the world's doing (exit 2), never a bug. */
export const isNoSpace = (e: unknown): boolean => ['ENOSPC', 'EDQUOT'].includes((e as { code?: string } | null)?.code ?? '');

const DISK_FULL_HINT = 'free some space (or raise the quota) and run the command again; a run that was under way is recorded as lost once it is looked at, never as succeeded';

/** The one error for a full disk (or quota), whoever met it: our writes, SQLite, or git's own processes. */
export function diskFull(where: string, detail?: string): GitRunError {
  return new GitRunError(ErrorCode.DiskFull, `no space left on the device that holds ${where}${detail ? ` (${detail})` : ''}`, DISK_FULL_HINT, { path: where });
}

/** What git prints when a write fails for want of space (errno's text, as strerror gives it). */
const GIT_NO_SPACE = /No space left on device|Disk quota exceeded/;

/** A git command failed in a way the tool did not expect: a bug or a broken repository (or a full disk, said as such). */
export class GitCommandError extends GitRunError {
  constructor(args: readonly string[], exitCode: number | null, stderr: string) {
    const full = GIT_NO_SPACE.test(stderr);
    super(
      full ? ErrorCode.DiskFull : ErrorCode.Git,
      full
        ? `no space left on the device: git ${args[0] ?? ''} could not write (${stderr.trim().split('\n').find((l) => GIT_NO_SPACE.test(l))?.trim()})`
        : `git ${args.join(' ')} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || 'no message'}`,
      full ? DISK_FULL_HINT : 'check that the repository is healthy (`git fsck`); if it is, this is a bug in git-run',
      { args, exitCode, stderr },
    );
  }
}
