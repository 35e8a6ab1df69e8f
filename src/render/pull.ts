// Text and JSON rendering for `mgen pull`, `mgen list`, `mgen rm` (stdout only: the result).
import type {CachedModel, RemoveResult} from '../sources/cache/inventory.js';
import {formatBytes} from '../sources/download/progress.js';
import type {PullResult} from '../sources/pull.js';
import {escapeControl as esc} from './escape-control.js';

// Ids, revisions, listing paths and cache paths come from hubs and files: every text line escapes control characters.

/** `dependencies`: what was pulled with it (an IP-Adapter's image encoder). */
export function pullJson(r: PullResult, dependencies: PullResult[] = []): string {
  return JSON.stringify({...pullFields(r), ...(dependencies.length ? {dependencies: dependencies.map(pullFields)} : {})});
}

function pullFields(r: PullResult): Record<string, unknown> {
  return {
    id: r.id, source: r.source, revision: r.revision, ...(r.commit ? {commit: r.commit} : {}), path: r.path,
    files: r.files.map((f) => ({path: f.path, size: f.size, downloaded: f.downloaded})),
    bytes_downloaded: r.bytes_downloaded, bytes_total: r.bytes_total, dry_run: r.dry_run,
    ...(r.download_seconds !== undefined ? {download_seconds: r.download_seconds} : {}),
  };
}

export function pullText(r: PullResult, dependencies: PullResult[] = []): string {
  return [r, ...dependencies].map(pullTextOne).join('\n');
}

function pullTextOne(r: PullResult): string {
  const rev = r.commit ? `${r.revision}@${r.commit.slice(0, 12)}` : r.revision;
  if (r.dry_run) {
    const paths = r.files.map((f) => esc(f.path));
    const w = Math.max(...paths.map((p) => p.length), 4);
    const lines = r.files.map((f, i) => `${paths[i]!.padEnd(w)}  ${formatBytes(f.size).padStart(9)}`);
    return [`${esc(r.id)}${rev ? ` (${esc(rev)})` : ''}: ${r.files.length} files, ${formatBytes(r.bytes_total)} (dry run, nothing written)`, ...lines].join('\n');
  }
  const took = r.download_seconds ? ` in ${r.download_seconds.toFixed(1)} s (${formatBytes(r.bytes_downloaded / r.download_seconds)}/s)` : '';
  return `${esc(r.id)}${rev ? ` (${esc(rev)})` : ''}: ${r.files.length} files, ${formatBytes(r.bytes_total)} total, ${formatBytes(r.bytes_downloaded)} downloaded${took}\n${esc(r.path)}`;
}

function ago(iso: string | null): string {
  if (!iso) return '-';
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(s)) return '-';
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function listText(models: CachedModel[]): string {
  if (models.length === 0) return 'no cached models';
  const rows = [['ID', 'REVISION', 'SIZE', 'FAMILY', 'KIND', 'LAST USED'], ...models.map((m) => [esc(m.id), esc(m.revision || '-'), formatBytes(m.size), esc(m.family), esc(m.kind), ago(m.last_used)])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function rmText(r: RemoveResult): string {
  return `removed ${esc(r.id)}: ${formatBytes(r.bytes_freed)} freed`;
}
