// The stderr notes every command prints (progress notes, the worker's stderr tail, serve's log lines) carry names
// from files, hubs and requests: they are printed with control characters escaped.
import {describe, expect, it, jest} from '@jest/globals';
import type {Config} from '@oclif/core';
import {BaseCommand} from '../src/base-command.js';

class Noter extends BaseCommand {
  async run(): Promise<void> {
    this.note('fetching base \u001b]0;pwned\u0007evil/repo');
    this.note('two\nlines\n');
  }
}

describe('BaseCommand.note', () => {
  it('escapes ESC/OSC sequences and keeps line breaks', async () => {
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => {
      written.push(String(chunk));
      return true;
    });
    try {
      // note() needs nothing of oclif's config: a stand-in keeps the test off the plugin loader.
      await new Noter([], {runHook: async () => ({successes: [], failures: []})} as unknown as Config).run();
    } finally {
      spy.mockRestore();
    }
    expect(written).toEqual(['fetching base \\x1b]0;pwned\\x07evil/repo\n', 'two\nlines\n']);
  });
});
