// MODEL_ID -> ModelTree for `mgen inspect`. builtin:* ids are built once by the runtime and then read from
// disk; every other id goes through the sources resolver (local path, HF repo or file, CivitAI, URL), which
// reads remote headers by HTTP Range and never downloads weights.
import {existsSync} from 'node:fs';
import {homedir} from 'node:os';
import {resolve} from 'node:path';
import {LocalTree} from '../detect/local-tree.js';
import type {ModelReport, ModelTree} from '../detect/types.js';
import type {CivitaiReportInfo} from '../sources/civitai/metadata.js';
import {modelIdFromArgs} from '../sources/model-id.js';

export interface InspectSourceFlags {
  token?: string;
  endpoint?: string;
  revision?: string;
  file?: string;
  offline?: boolean;
}

export interface OpenedForInspect {
  tree: ModelTree;
  source: ModelReport['source'];
  civitai?: CivitaiReportInfo;
}

export async function openForInspect(arg: string | undefined, flags: InspectSourceFlags): Promise<OpenedForInspect> {
  const env = process.env;
  const id = modelIdFromArgs(arg, env);
  if (id.trim().startsWith('builtin:')) {
    const {resolveBuiltin} = await import('../backends/builtin.js');
    // Provisions the runtime only when the model has not been built yet. Stage lines go to stderr on a TTY or not (a
    // silent 10 s first build looks like a hang); pip's per-package lines only on a TTY.
    const b = await resolveBuiltin(id.trim(), {env, onProgress: (m) => (process.stderr.isTTY || !m.startsWith('pip: ')) && process.stderr.write(`${m}\n`)});
    return {tree: await LocalTree.open(b.path), source: {type: 'builtin', id: id.trim()}};
  }
  // A local path needs none of the network modules (start-up time: inspect answers in a few hundred ms).
  const local = id.trim().replace(/^~(?=$|\/)/, homedir());
  // The user's own file: a message about a file that is not what its name says may quote its first bytes.
  if (existsSync(local)) return {tree: await LocalTree.open(local, {quoteContent: true}), source: {type: 'local', id: resolve(local)}};
  const {resolveModel} = await import('../sources/resolve.js');
  const {asker} = await import('../sources/ask.js');
  const ask = asker<import('../sources/civitai/client.js').CivitaiFile>('Several files fit: which one?');
  const {formatBytes} = await import('../sources/download/progress.js');
  const opened = await resolveModel(id, {
    ...flags,
    note: (m) => process.stderr.write(`mgen: ${m}\n`),
    ...(ask ? {chooseCivitaiFile: (c) => ask(c.map((x) => ({name: `${x.name} (${formatBytes(x.sizeKB * 1024)})`, value: x})))} : {}),
  });
  return {tree: opened.tree, source: opened.source, ...(opened.civitai ? {civitai: opened.civitai} : {})};
}
