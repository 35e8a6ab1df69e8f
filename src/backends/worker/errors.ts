// Worker error types (docs/worker-protocol.md) -> mgen's typed errors and exit codes.
import {GenerationError, InterruptedError, InvalidModelError, MgenError, RuntimeSetupError, UsageError} from '../../errors.js';
import type {WorkerErrorType} from './types.js';

export interface WorkerErrorBody {
  type: WorkerErrorType | string;
  message: string;
  detail?: string;
}

/** The typed error for a worker's `ok:false` answer; `workerType` keeps the protocol's type. */
export function workerError(body: WorkerErrorBody, verb: string): MgenError & {workerType: string} {
  const message = oneLine(body.message || body.type);
  const opts = {detail: body.detail || undefined};
  let err: MgenError;
  switch (body.type) {
    case 'cancelled':
      err = new InterruptedError('generation cancelled');
      break;
    case 'unsafe_model':
      // Refused even with --allow-pickle: torch's weights-only loader met something that is not plain tensors.
      err = new InvalidModelError(message, {
        ...opts,
        hint: /weights-only loader refused/.test(message) ? 'the file holds objects that are not tensors; use a .safetensors version of it' : 'pass --allow-pickle only for files you trust',
      });
      break;
    case 'invalid_model':
      err = new InvalidModelError(message, opts);
      break;
    case 'load_failed':
      err = new RuntimeSetupError(`loading the model failed: ${message}`, opts);
      break;
    case 'not_loaded':
      err = new RuntimeSetupError(`the worker has no model loaded (${verb})`, opts);
      break;
    case 'bad_params':
      err = new GenerationError(`bad parameters: ${message}`, opts);
      break;
    case 'out_of_memory':
      err = new GenerationError(`out of memory: ${message}`, {...opts, hint: 'try --offload model, a smaller size, or --dtype float16'});
      break;
    case 'bad_request':
      err = verb === 'generate' ? new UsageError(`bad request: ${message}`, opts) : new GenerationError(`bad request: ${message}`, opts);
      break;
    default:
      err = new GenerationError(message, opts);
  }
  return Object.assign(err, {workerType: String(body.type)});
}

export function oneLine(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
  return line.length > 400 ? line.slice(0, 397) + '...' : line;
}
