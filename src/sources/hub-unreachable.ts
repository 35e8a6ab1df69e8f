// A Hub that is not there at all (connection refused, DNS failure, no route) is not worth retrying when the cache
// already holds the revision: fail at once and fall back to the cache, as huggingface_hub does. 4xx/5xx answers
// are the Hub speaking and keep their own handling (5xx still retries).
import {NetworkError} from '../errors.js';
import {errText, hostOf, type FetchLike, type HttpOptions} from './http.js';

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** A connection-level failure before any answer (the code may sit on the error, its cause, or an AggregateError's parts). */
export function isUnreachable(err: unknown): boolean {
  const seen = new Set<unknown>();
  const walk = (e: unknown): boolean => {
    if (!e || typeof e !== 'object' || seen.has(e)) return false;
    seen.add(e);
    const x = e as {code?: string; cause?: unknown; errors?: unknown[]};
    if (x.code && UNREACHABLE.has(x.code)) return true;
    return walk(x.cause) || (Array.isArray(x.errors) && x.errors.some(walk));
  };
  return walk(err);
}

/** Thrown at the first refused connection (not retried): the caller falls back to its cache. */
export class HubUnreachableError extends NetworkError {}

/** The same HTTP options, except that an unreachable host fails on the first attempt. */
export function failFastWhenUnreachable(http: HttpOptions = {}): HttpOptions {
  const f: FetchLike = http.fetch ?? fetch;
  const wrapped = async (input: Parameters<FetchLike>[0], init?: Parameters<FetchLike>[1]): Promise<Response> => {
    try {
      return await f(input, init);
    } catch (err) {
      if (!isUnreachable(err)) throw err;
      const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
      throw new HubUnreachableError(`cannot reach ${hostOf(url)}: ${errText(err)}`, {cause: err});
    }
  };
  return {...http, fetch: wrapped as FetchLike};
}

/** What the user hears when the cache stands in for the Hub. */
export function cachedRevisionNote(commit: string): string {
  return `hub unreachable; using the cached revision ${commit.slice(0, 7)}`;
}
