// MODEL_ID -> ModelTree for `mgen inspect`. Local paths only for now; remote ids (hf:, civitai:, URLs) plug in
// here through the sources resolver without touching the command.
import type {ModelReport, ModelTree} from './types.js';
import {LocalTree} from './local-tree.js';

export async function openModel(id: string): Promise<{tree: ModelTree; source: ModelReport['source']}> {
  const tree = await LocalTree.open(id);
  return {tree, source: {type: 'local', id}};
}
