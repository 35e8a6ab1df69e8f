// The detection library's entry points: a ModelTree (local, HF, CivitAI) in, a ModelReport out.
import type {ModelReport, ModelTree} from './types.js';
import {collectFacts} from './collect-facts.js';
import {runRules} from './registry.js';
import {buildReport} from './report.js';
import {LocalTree} from './local-tree.js';
import {inferComponents} from './infer-components.js';

export type {ModelReport, ModelTree} from './types.js';
export {collectFacts} from './collect-facts.js';
export {runRules, RULES} from './registry.js';
export {buildReport} from './report.js';

/** Reads the facts a tree offers (headers and configs only), runs every rule and builds the report. */
export async function detect(tree: ModelTree, source?: ModelReport['source']): Promise<ModelReport> {
  const facts = await collectFacts(tree);
  await inferComponents(tree, facts);
  const conclusion = runRules(facts);
  return buildReport(facts, conclusion, source ?? {type: 'local', id: tree.name});
}

/** detect() on a local file or folder; a missing path is a NotFoundError (exit 3). */
export async function detectLocal(path: string, opts: {quoteContent?: boolean} = {}): Promise<ModelReport> {
  const tree = await LocalTree.open(path, opts);
  return detect(tree, {type: 'local', id: path});
}
