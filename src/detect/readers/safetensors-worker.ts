// Worker thread for large safetensors headers: scans, parses and validates the header off the event loop, so a
// server answering other requests (health checks included) is not blocked by a multi-megabyte JSON.parse.
import {parentPort, workerData} from 'node:worker_threads';
import {packFacts, parseSafetensorsHeader} from './safetensors.js';
import {InvalidModelError} from '../../errors.js';

const job = workerData as {bytes: Uint8Array; fileSize: number; path: string; strict?: boolean};
try {
  const {packed, transfer} = packFacts(parseSafetensorsHeader(job.bytes, job.fileSize, {path: job.path, strict: job.strict}));
  parentPort!.postMessage({ok: true, facts: packed}, transfer);
} catch (err) {
  parentPort!.postMessage({ok: false, invalid: err instanceof InvalidModelError, message: (err as Error)?.message ?? String(err)});
}
