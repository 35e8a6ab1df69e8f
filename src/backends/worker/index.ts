export {startWorker, type StartWorkerOptions} from './start-worker.js';
export type * from './types.js';
