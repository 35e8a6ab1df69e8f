import {describe, expect, test} from '@jest/globals';
import {RULES, runRules} from '../../src/detect/registry.js';
import type {Rule} from '../../src/detect/rule-types.js';
import {factsFrom} from '../helpers/facts.js';
import {bflControlLora} from '../helpers/fixtures/adapters.js';

describe('rule registry', () => {
  test('every rule has a unique id', () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('the most specific claim wins and the losers are kept as evidence', () => {
    const generic: Rule = {id: 'generic', match: () => ({rule: 'generic', kind: 'checkpoint', family: 'flux', variants: [], specificity: 50, evidence: ['double_blocks.*']})};
    const specific: Rule = {id: 'specific', match: () => ({rule: 'specific', kind: 'lora', family: 'flux', variants: [], specificity: 80, evidence: ['lora_A/lora_B']})};
    const c = runRules(factsFrom(bflControlLora()), [generic, specific]);
    expect(c.winner?.rule).toBe('specific');
    expect(c.evidence.map((e) => e.rule)).toEqual(['specific', 'generic']);
    expect(c.evidence[1]!.claim).toMatch(/lost: specificity 50 < 80/);
  });

  test('with the real rules, a BFL control LoRA is a LoRA', () => {
    expect(runRules(factsFrom(bflControlLora())).winner?.rule).toBe('lora');
  });

  test('equal specificity with different conclusions is reported as ambiguous', () => {
    const a: Rule = {id: 'a', match: () => ({rule: 'a', kind: 'vae', family: 'sd1', variants: [], specificity: 10, evidence: ['x']})};
    const b: Rule = {id: 'b', match: () => ({rule: 'b', kind: 'vae', family: 'sdxl', variants: [], specificity: 10, evidence: ['y']})};
    expect(runRules(factsFrom([]), [a, b]).warnings.join(' ')).toMatch(/ambiguous/);
  });

  test('a failing rule becomes a warning, not a crash', () => {
    const bad: Rule = {id: 'bad', match: () => { throw new Error('boom'); }};
    const c = runRules(factsFrom([]), [bad]);
    expect(c.winner).toBeNull();
    expect(c.warnings).toEqual(['rule bad failed: boom']);
  });

  test('nothing matched: no winner (never a silent SD1 default)', () => {
    expect(runRules(factsFrom([{name: 'x.weight', dtype: 'F32', shape: [3, 3]}])).winner).toBeNull();
  });
});
