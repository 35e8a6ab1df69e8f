// A folder of diffusers components without model_index.json (e.g. a repo snapshot holding only
// `transformer/config.json` + its shard index): infer the components from the subfolders' configs so the
// rules can read their class names, configs and weight-map names. Reads small JSON files only.
import type {ComponentFacts, Facts, ModelTree} from './types.js';
import {readJson} from './collect-facts.js';
import {parseShardIndex} from './readers/index-json.js';

const MAX_COMPONENTS = 16;

export async function inferComponents(tree: ModelTree, facts: Facts): Promise<void> {
  if (tree.singleFile || facts.modelIndex || facts.config || facts.components.length > 0 || facts.tensors.size > 0) return;
  const entries = await tree.list();
  const dirs = new Map<string, string[]>();
  for (const e of entries) {
    const parts = e.path.split('/');
    if (parts.length !== 2) continue;
    const list = dirs.get(parts[0]!) ?? [];
    list.push(parts[1]!);
    dirs.set(parts[0]!, list);
  }
  const found: ComponentFacts[] = [];
  for (const [dir, files] of [...dirs.entries()].slice(0, MAX_COMPONENTS)) {
    const cfgName = files.find((f) => f === 'config.json' || f === 'scheduler_config.json');
    if (!cfgName) continue;
    let config: Record<string, unknown>;
    try {
      config = await readJson(tree, `${dir}/${cfgName}`);
    } catch {
      continue;
    }
    const cls = typeof config._class_name === 'string' ? config._class_name : Array.isArray(config.architectures) && typeof config.architectures[0] === 'string' ? config.architectures[0] : null;
    if (!cls) continue;
    const comp: ComponentFacts = {name: dir, library: typeof config._class_name === 'string' ? 'diffusers' : 'transformers', className: cls, config, files: [], present: true};
    const index = files.find((f) => /\.safetensors\.index\.json$/i.test(f));
    if (index) {
      try {
        comp.indexKeys = parseShardIndex(await tree.readText(`${dir}/${index}`), `${dir}/${index}`).keys;
      } catch {
        // An unreadable index only loses the key names; the config still says what the component is.
      }
    }
    found.push(comp);
  }
  if (found.length === 0) return;
  facts.components = found;
  facts.warnings.push(`no model_index.json: components inferred from subfolders (${found.map((c) => c.name).join(', ')})`);
}
