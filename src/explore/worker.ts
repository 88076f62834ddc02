/** One explorer worker: explores its share and posts the result back. */
import { parentPort, workerData } from 'node:worker_threads';
import { explore } from './explorer.js';
import type { WorkerJob } from './parallel.js';

const job = workerData as WorkerJob;
parentPort?.postMessage(explore(job.scenario, job.opts));
