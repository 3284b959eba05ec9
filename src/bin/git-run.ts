#!/usr/bin/env node
import { main } from '../cli/index.js';
import { setCliEntry } from '../executors/index.js';

// Detached supervisors are started with the same file that is running now.
setCliEntry(process.argv[1]!);
void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
