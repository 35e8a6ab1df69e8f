// The loopback hub in its own process (so the client's CPU is not shared with the server's event loop).
// argv: a JSON file {repos: [{id, dir, sha256?}], bodyBytesPerSecond?} -> prints {"url": ...} on stdout, serves
// until killed. bodyBytesPerSecond (default 0: unlimited) paces every file body to that rate per connection.
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {ROOT} from './helpers.mjs';

const out = join(ROOT, 'bench', 'out', 'helpers');
const {LoopbackHub} = await import(join(out, 'loopback-hub.js'));
const {repoFromFolder} = await import(join(out, 'hub-fixtures.js'));
const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const hub = await new LoopbackHub().start();
if (cfg.bodyBytesPerSecond !== undefined) {
  if (!(Number.isFinite(cfg.bodyBytesPerSecond) && cfg.bodyBytesPerSecond >= 0)) throw new Error(`bodyBytesPerSecond: not a rate: ${cfg.bodyBytesPerSecond}`);
  hub.bodyBytesPerSecond = cfg.bodyBytesPerSecond;
}
for (const r of cfg.repos) hub.addRepo(repoFromFolder(r.id, r.dir, {sha256: r.sha256 ?? {}}));
process.stdout.write(JSON.stringify({url: hub.url}) + '\n');
process.on('SIGTERM', () => hub.close().then(() => process.exit(0)));
