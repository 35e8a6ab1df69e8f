// Interoperability with Python's huggingface_hub: what mgen pulls, Python finds (scan_cache_dir,
// snapshot_download(local_files_only=True)); what Python downloads from the loopback hub, mgen finds offline.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {listCached} from '../../src/sources/cache/inventory.js';
import {pullHf} from '../../src/sources/hf/hf-pull.js';
import {diffusersRepo, singleFileRepo} from '../helpers/hub-fixtures.js';
import {commitOf, LoopbackHub, startHub} from '../helpers/loopback-hub.js';
import {findPython, pythonMissingAllowed, runPython} from '../helpers/python.js';

const python = findPython();
const maybe = python || !pythonMissingAllowed() ? describe : describe.skip;

let hub: LoopbackHub;
let home: string;

beforeAll(async () => {
  hub = await startHub(diffusersRepo('org/tiny-sd'), singleFileRepo('org/single'));
  home = mkdtempSync(join(tmpdir(), 'mgen-interop-'));
});
afterAll(async () => {
  await hub.close();
  rmSync(home, {recursive: true, force: true});
});

maybe('huggingface_hub interoperability', () => {
  const pyEnv = () => ({HF_HOME: join(home, 'hf'), HF_ENDPOINT: hub.url, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_XET: '1', HF_HUB_ENABLE_HF_TRANSFER: '0', HF_TOKEN: ''});
  const env = () => ({HF_HOME: join(home, 'hf'), MGEN_HOME: join(home, 'mgen')});

  it('a Python interpreter with huggingface_hub is available', () => {
    expect(python).toBeTruthy();
  });

  it('scan_cache_dir lists what mgen pulled with the right sizes, and snapshot_download(local_files_only) returns the same files', async () => {
    const r = await pullHf({repo: 'org/tiny-sd', endpoint: hub.url, env: env()});
    const out = await runPython(python!, `
import json, os
from huggingface_hub import scan_cache_dir, snapshot_download
info = scan_cache_dir()
repos = {r.repo_id: r for r in info.repos}
r = repos['org/tiny-sd']
rev = list(r.revisions)[0]
files = sorted((str(f.file_path.relative_to(rev.snapshot_path)), f.size_on_disk) for f in rev.files)
p = snapshot_download('org/tiny-sd', local_files_only=True)
local = sorted(os.path.relpath(os.path.join(d, n), p) for d, _, ns in os.walk(p) for n in ns)
print(json.dumps({"commit": rev.commit_hash, "refs": sorted(rev.refs), "size": r.size_on_disk, "files": files, "path": p, "local": local, "warnings": [str(w) for w in info.warnings]}))
`, pyEnv());
    const py = JSON.parse(out.trim().split('\n').pop()!) as {commit: string; refs: string[]; size: number; files: Array<[string, number]>; path: string; local: string[]; warnings: string[]};
    expect(py.warnings).toEqual([]);
    expect(py.commit).toBe(r.commit);
    expect(py.refs).toEqual(['main']);
    expect(py.files).toEqual(r.files.map((f) => [f.path, f.size]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
    expect(py.size).toBe(r.bytes_total);
    expect(py.path).toBe(r.path);
    expect(py.local).toEqual(r.files.map((f) => f.path).sort());
  });

  it('a repo downloaded by huggingface_hub from the loopback hub is found by mgen offline', async () => {
    const out = await runPython(python!, `
from huggingface_hub import snapshot_download
print(snapshot_download('org/single'))
`, pyEnv());
    const pyPath = out.trim().split('\n').pop()!;
    // mgen list shows it, with '-' for what no mgen pull has summarized.
    const listed = listCached(env()).find((m) => m.id === 'org/single')!;
    expect(listed).toMatchObject({revision: 'main', family: '-', kind: '-', path: pyPath});
    const n = hub.log.length;
    const r = await pullHf({repo: 'org/single', offline: true, env: env()});
    expect(hub.log.length).toBe(n);
    expect(r.commit).toBe(commitOf('org/single'));
    expect(r.path).toBe(pyPath);
    expect(r.files.map((f) => f.path).sort()).toEqual(['README.md', 'model.safetensors']);
    const original = hub.repos.get('org/single')!.files.find((f) => f.path === 'model.safetensors')!.content!;
    expect(readFileSync(join(r.path, 'model.safetensors')).equals(original)).toBe(true);
    // And an online mgen pull on top of it reuses Python's blobs (nothing downloaded).
    const again = await pullHf({repo: 'org/single', endpoint: hub.url, env: env()});
    expect(again.bytes_downloaded).toBe(0);
  });
});
