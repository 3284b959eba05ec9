/**
 * git-run as a library. Every function takes a Repo (from `repoAt(cwd)`)
 * and returns values; nothing here prints.
 */
export { repoAt, getRun, getRuns, listRuns, activeRuns, liveStates, parseStatuses, openIndex, selectRuns, queryRuns, readViews, readLines, pagerCommand, colorWanted, groupRuns, type ListOptions, type RunLine, type RunQuery, type GroupKey, type GroupCell } from './query.js';
export { startRun, startSubmission, runForeground, runSubmissionHere, runChildren, submitDetached, submitInBackground, superviseById, toSubmitOptions, type RunOptions, type Submitted, type ForegroundOptions, type Progress } from './run.js';
export { prepareSubmission, dryRunSubmission, parseAssignment, SWEEP_CAP, type SubmitOptions, type Submission, type DryRun, type DryRunChild } from './submit.js';
export { explainRun, explainSpec, type Explanation } from './why.js';
export { rerunOptions, type RerunOptions } from './rerun.js';
export { parseSeed, loadRunConfig, writeStarterConfig, STARTER_CONFIG } from './context.js';
export { streamLogs, recordedLog, type Sink, type Stream, type FollowOptions } from './follow.js';
export { cancelRuns, waitFor, waitRuns } from './control.js';
export { removeRuns, collectGarbage, collectHostGarbage, type RemoveOptions, type RemoveResult, type RemovedRun, type Dependent, type GcRules, type GcResult, type HostGcOptions, type HostGcReport } from './remove.js';
export { catRunFile, checkoutRun, parseRunPath } from './files.js';
export { pushLfsObjects } from './lfs.js';
export { exportRuns, exportToHost, importBundle, type ExportOptions, type ExportResult, type ImportResult, type HostExportResult } from './export.js';
export { editRun, type MetadataEdit } from './metadata.js';
export { runToJson, type RunJson } from './json.js';
export { lineage, upstreamOf, type Lineage, type LineageNode, type LineageRun, type LineageData, type LineageEdge, type LineageOptions, type LineageDirection, type UpstreamEntry, type DownstreamEntry } from './lineage.js';
export { diffRuns, type RunDiff, type DiffOptions, type KeyedDiff, type Pair } from './diff.js';
export { compareRuns, type Comparison, type CompareOptions, type CompareRow } from './compare.js';
export { Run, getOrRun, getOrCall, type LoadOptions, type RunInputs } from './handle.js';
export type { RunView } from '../store/runs.js';
export type { Status, RunSpec, RunResult } from '../core/record.js';
export { GitRunError, ErrorCode } from '../errors/index.js';
export { signalNumber } from '../util/process.js';
export { groupStatus } from './groups.js';
export { closeConnections } from './connections.js';
export { runDaemon, startDaemon, stopDaemon, daemonStatus, daemonLog, schedulesOf, type DaemonStatus, type DaemonOptions } from './daemon.js';
export { installHooks, uninstallHooks, hooksDir, postCommitShim, HOOK_NAMES, type HookName, type HookInstall, type HookUninstall } from './hooks/install.js';
export { hookLog, hookProblems, hookLogFile, type HookEvent } from './hooks/log.js';
export { runPostCommit, hookTriggers, type PostCommitOptions } from './hooks/post-commit.js';
export { drainPostCommits } from './hooks/queue.js';
export { pushRuns, pullRuns, configureRemote, resolveRemote, splitPushArgs, type PushOptions, type PushResult, type PullResult, type ShareOptions, type Skipped, type RemoteConfig } from './share.js';
export { metricHistory, metricHistories, followMetrics, type MetricHistory, type MetricLine } from './metrics-history.js';
