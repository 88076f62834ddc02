/** One explorer worker: explores its share, posting progress now and then, and posts the result back. */
import { parentPort, workerData } from 'node:worker_threads';
import { explore, type Progress } from './explorer.js';
import type { WorkerJob } from './parallel.js';

const job = workerData as WorkerJob;
const onProgress = job.progressMs === undefined ? undefined : (p: Progress) => parentPort?.postMessage({ progress: p });
parentPort?.postMessage({ result: explore(job.scenario, { ...job.opts, ...(onProgress ? { onProgress, progressMs: job.progressMs } : {}) }) });
