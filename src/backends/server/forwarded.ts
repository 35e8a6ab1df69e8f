// The URL a client used, as a reverse proxy reports it (RFC 7239 `Forwarded`, else `X-Forwarded-Proto` /
// `X-Forwarded-Host`). Only read when serve is told to trust its proxy (--trust-proxy): anyone can send these headers.
import type {IncomingHttpHeaders} from 'node:http';

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v)?.split(',')[0]?.trim();

/** `proto://host` from the proxy headers, or null when they name no (valid) host. */
export function forwardedOrigin(headers: IncomingHttpHeaders): string | null {
  let proto: string | undefined;
  let host: string | undefined;
  const fwd = first(headers.forwarded);
  if (fwd) {
    for (const pair of fwd.split(';')) {
      const [k, ...rest] = pair.split('=');
      const v = rest.join('=').trim().replace(/^"(.*)"$/, '$1');
      if (k?.trim().toLowerCase() === 'proto') proto = v;
      if (k?.trim().toLowerCase() === 'host') host = v;
    }
  }
  proto ??= first(headers['x-forwarded-proto']);
  host ??= first(headers['x-forwarded-host']) ?? first(headers.host);
  const p = (proto ?? 'http').toLowerCase();
  if ((p !== 'http' && p !== 'https') || !host || !HOST.test(host)) return null;
  return `${p}://${host.toLowerCase()}`;
}
