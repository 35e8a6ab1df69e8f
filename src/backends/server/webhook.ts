// Job webhooks (RunPod's `webhook`, and the same field on /v1/jobs): when a job ends, its result is POSTed as JSON
// to the URL the client gave, with a bounded number of attempts. A server reachable from other machines sends them
// under the request-model policy's connection guard, so a client cannot make it POST to a private or loopback
// address the operator did not allow (--allow-private-hosts); a loopback-only server (local use, tests) may.
import http from 'node:http';
import https from 'node:https';
import {HttpError} from './http-error.js';
import type {RequestModelPolicy} from '../request-model-policy.js';

export interface WebhookOptions {
  /** Delays before the 2nd, 3rd, ... attempt, ms (default 1 s, 5 s: three attempts in all). */
  retryDelaysMs?: number[];
  /** Per-attempt limit, ms (default 10 s). */
  attemptTimeoutMs?: number;
  log?: (line: string) => void;
}

/** A webhook URL as a request gives it: http(s), no credentials; throws a 400 naming `field`. */
export function checkWebhookUrl(value: unknown, field = 'webhook'): string {
  if (typeof value !== 'string' || value.length > 2048) throw new HttpError(400, 'invalid_request_error', `${field}: must be an http(s) URL`, field);
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new HttpError(400, 'invalid_request_error', `${field}: must be an http(s) URL`, field);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new HttpError(400, 'invalid_request_error', `${field}: must be an http(s) URL`, field);
  if (u.username || u.password) throw new HttpError(400, 'invalid_request_error', `${field}: a webhook URL may not carry credentials`, field);
  return u.toString();
}

export class WebhookSender {
  private readonly inFlight = new Set<Promise<void>>();
  /** Whether the server listens on loopback only (then any address may be called back). */
  loopbackOnly = true;

  constructor(private readonly policy: RequestModelPolicy, private readonly o: WebhookOptions = {}) {}

  /** Sends `payload` to `url` in the background; failures are logged, never thrown. */
  send(url: string, payload: unknown): void {
    const p = this.deliver(url, JSON.stringify(payload)).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Resolves when every delivery in progress has ended (shutdown, tests). */
  async settle(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  private async deliver(url: string, body: string): Promise<void> {
    const delays = this.o.retryDelaysMs ?? [1000, 5000];
    const host = new URL(url).host;
    let why = '';
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, delays[attempt - 1]));
      try {
        const post = (): Promise<number> => postJson(url, body, this.o.attemptTimeoutMs ?? 10_000);
        const status = await (this.loopbackOnly ? post() : this.policy.guard(post));
        if (status >= 200 && status < 300) return;
        why = `HTTP ${status}`;
      } catch (err) {
        why = refusedOrFailed(err);
        if (why.startsWith('refused')) break;
      }
    }
    this.o.log?.(`webhook to ${host} not delivered: ${why}`);
  }
}

function refusedOrFailed(err: unknown): string {
  for (let e: unknown = err, i = 0; e && i < 8; e = (e as {cause?: unknown}).cause, i++) {
    if (/EMGEN_ADDRESS_REFUSED/.test(String((e as {code?: string}).code ?? '') + String((e as {message?: string}).message ?? ''))) {
      return 'refused: a private address (the operator can allow it with --allow-private-hosts)';
    }
  }
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

/**
 * One POST on a connection of its own (no pooled keep-alive socket: every attempt connects, so the policy's
 * connection guard sees it); redirects are not followed. Resolves with the status code.
 */
function postJson(url: string, body: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.request(url, {method: 'POST', agent: false, headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)}, timeout: timeoutMs}, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)));
    req.on('error', reject);
    req.end(body);
  });
}
