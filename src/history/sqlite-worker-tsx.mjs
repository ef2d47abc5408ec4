// Starts the SQLite worker from its TypeScript source when the program runs under tsx (tests,
// `make run`): worker threads do not inherit the loader hooks of the main thread.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.script);
