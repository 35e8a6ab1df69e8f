// README.md is what a new user types from: every builtin MODEL_ID it names must be one the CLI accepts, and the
// table of built-in tiny models must list exactly the ones there are.
import {describe, expect, it} from '@jest/globals';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {BUILTIN_NAMES, BUILTIN_PREFIX} from '../src/backends/builtin.js';

const readme = readFileSync(join(import.meta.dirname ?? process.cwd(), '..', 'README.md'), 'utf8');
const accepted = BUILTIN_NAMES.map((n) => BUILTIN_PREFIX + n);

describe('README builtins', () => {
  it('names only builtin MODEL_IDs the CLI accepts', () => {
    const named = new Set(readme.match(/builtin:[A-Za-z0-9._-]*[A-Za-z0-9]/g) ?? []);
    expect([...named].filter((id) => !accepted.includes(id))).toEqual([]);
  });

  it('lists every builtin once in the "Built-in tiny models" table and says they make noise', () => {
    const section = readme.split('## Built-in tiny models')[1]?.split('\n## ')[0] ?? '';
    const rows = [...section.matchAll(/^\| `(builtin:[^`]+)` \|/gm)].map((m) => m[1]);
    expect(rows.sort()).toEqual([...accepted].sort());
    expect(section).toMatch(/random weights/i);
    expect(section).toMatch(/noise, not pictures/);
  });
});
