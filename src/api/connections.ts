/**
 * Closing what executors keep open (ssh connections), apart from the
 * api/index.js barrel so that the CLI's entry does not load every api module
 * to reach it (decision 0024).
 */
export { closeExecutors as closeConnections } from '../executors/index.js';
