// A stand-in for the Python worker: a Node script speaking the worker protocol (hello, load, schema, shutdown answer
// ok) that appends every verb it is sent to $FAKE_VERBS. Used as `python` / MGEN_PYTHON where a test must see what
// happens before a model loads, with no Python and no diffusers.
import {chmod, mkdtemp, readFile, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

const SCRIPT = `#!/usr/bin/env node
const fs = require('fs');
const log = (v) => process.env.FAKE_VERBS && fs.appendFileSync(process.env.FAKE_VERBS, v + '\\n');
process.stdout.write(JSON.stringify({event: 'ready', protocol: 1}) + '\\n');
let buf = '';
process.stdin.on('data', (c) => {
  buf += c;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const msg = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    log(msg.verb);
    const result = msg.verb === 'hello' ? {protocol: 1, python: '3.11', torch: '2', diffusers: '0', transformers: '4', device: 'cpu'}
      : msg.verb === 'schema' ? {schema: {type: 'object', properties: {}}} : {};
    process.stdout.write(JSON.stringify({id: msg.id, ok: true, result}) + '\\n');
    if (msg.verb === 'shutdown') process.exit(0);
  }
});
process.stdin.on('end', () => process.exit(0));
`;

/** Writes the stand-in into a new temp folder; returns its path (executable). */
export async function standInWorker(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mgen-standin-'));
  const file = join(dir, 'python');
  await writeFile(file, SCRIPT);
  await chmod(file, 0o755);
  return file;
}

export async function verbsSeen(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}
