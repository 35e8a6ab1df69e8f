// formatError: the one line a user sees (escaped, redacted), hint lines under it, and the oclif parse errors reshaped.
import {describe, expect, it} from '@jest/globals';
import {closest, commandNotFound, fromParseError, shapeReason} from '../src/cli/parse-errors.js';
import {GenerationError, InvalidModelError, UsageError, exitCodeFor, formatError} from '../src/errors.js';
import {parseModelId} from '../src/sources/model-id.js';

describe('formatError', () => {
  it('escapes control characters in the message, hint and detail (a hostile file or tensor name)', () => {
    const err = new InvalidModelError('tensor \x1b]0;pwned\x07 has a bad shape', {hint: 'see \x1b[2J', detail: 'raw \x9b31m'});
    expect(formatError(err, false)).toBe('mgen: error: tensor \\x1b]0;pwned\\x07 has a bad shape (see \\x1b[2J)');
    expect(formatError(err, true)).toMatch(/^mgen: error: tensor \\x1b\]0;pwned\\x07 has a bad shape \(see \\x1b\[2J\)\nraw \\x9b31m\n/);
    expect(formatError(new Error('boom \x1b[31m'), false)).toBe('mgen: error: internal error: boom \\x1b[31m\nrun again with --verbose for details');
    expect(formatError(err, true)).not.toMatch(/[\x1b\x07\x9b]/);
  });

  it('keeps only the first line of a message, and prints explicit hint lines under it', () => {
    expect(formatError(new GenerationError('first\nsecond'), false)).toBe('mgen: error: first');
    const err = new UsageError('bad thing', {hintLines: ['accepted:', '  a', '  b']});
    expect(formatError(err, false)).toBe('mgen: error: bad thing\n  accepted:\n    a\n    b');
  });

  it('still redacts tokens after escaping', () => {
    expect(formatError(new UsageError('token hf_abcdefghijkl in \x1b'), false)).toBe('mgen: error: token *** in \\x1b');
  });

  it('an invalid MODEL_ID: a short first line, the accepted forms one per line under it', () => {
    let err: unknown;
    try {
      parseModelId('hf:://bad id');
    } catch (e) {
      err = e;
    }
    const lines = formatError(err, false).split('\n');
    expect(lines[0]).toBe("mgen: error: invalid MODEL_ID 'hf:://bad id': a HuggingFace repo is org/name (letters, digits, - _ .)");
    expect(lines[0]!.length).toBeLessThan(120);
    expect(lines[1]).toBe('  accepted forms:');
    expect(lines).toContain('    civitai:<modelId>[@<versionId>]');
    expect(lines).toContain('    builtin:<name>');
    expect(Math.max(...lines.slice(1).map((l) => l.length))).toBeLessThan(80);
    expect(exitCodeFor(err)).toBe(2);
  });
});

describe('oclif parse errors', () => {
  const ctx = {command: 'mgen generate', flags: ['prompt', 'steps', 'width', 'negative-prompt', 'verbose']};

  it('a bad flag value says the reason on the one line', () => {
    const e = new Error('Parsing --steps \n\tExpected an integer greater than or equal to 1 but received: 0\nSee more help with --help');
    const u = fromParseError(e, ctx)!;
    expect(u).toBeInstanceOf(UsageError);
    expect(u.message).toBe('--steps: expected an integer >= 1, got 0');
    expect(shapeReason('Expected an integer but received: abc')).toBe('expected an integer, got abc');
    expect(shapeReason('Expected an integer less than or equal to 9 but received: 10')).toBe('expected an integer <= 9, got 10');
  });

  it('a typed mgen error thrown by a flag parser keeps its exit code', () => {
    const e = new GenerationError('Parsing --x \n\tno such scheduler\nSee more help with --help');
    const u = fromParseError(e, ctx)!;
    expect(u.message).toBe('--x: no such scheduler');
    expect(exitCodeFor(u)).toBe(8);
  });

  it('did you mean: close names only', () => {
    expect(closest('prompot', ctx.flags)).toBe('prompt');
    expect(closest('negative-promt', ctx.flags)).toBe('negative-prompt');
    expect(closest('zebra', ctx.flags)).toBeUndefined();
    const cmds = {commands: ['generate', 'inspect', 'runtime:install', 'runtime:which'], topics: ['runtime']};
    expect(formatError(commandNotFound('genrate', cmds), false)).toBe('mgen: error: command genrate not found (did you mean generate?)');
    expect(formatError(commandNotFound('genrate:builtin:tiny-sd', cmds), false)).toBe('mgen: error: command genrate not found (did you mean generate?)');
    expect(formatError(commandNotFound('runtime:instal', cmds), false)).toBe('mgen: error: command runtime instal not found (did you mean runtime install?)');
    expect(formatError(commandNotFound('zzzz', cmds), false)).toBe('mgen: error: command zzzz not found (see mgen --help)');
  });
});
