// Spinners and the step bar on a real pseudo-terminal: drawn on a normal one; on a terminal that reports 0 columns
// (`script` with no real terminal, `docker run -t`) nothing live is drawn and nothing loops (issue 10: ora cleared
// lines forever there, ~800 MB in 10 minutes, with SIGINT and SIGTERM ignored).
import {beforeAll, describe, expect, it} from '@jest/globals';
import {existsSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {pathToFileURL} from 'node:url';
import {isLiveTerminal} from '../../src/sources/download/progress.js';
import {hasScript, inPty, typeWhen, type PtyOptions} from '../helpers/pty.js';

const ROOT = resolve(process.cwd());
const PROGRESS = pathToFileURL(join(ROOT, 'dist', 'cli', 'progress.js')).href;
// What `generate` does with the stage and the bar, in a child process on the terminal.
const SCRIPT = `
const {startStage, startStepBar} = await import(${JSON.stringify(PROGRESS)});
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
const stage = await startStage('preparing builtin:tiny-sd');
await pause(300);
stage.text('loading builtin:tiny-sd');
await pause(300);
stage.stop();
const bar = await startStepBar('denoising');
for (let i = 1; i <= 4; i++) { bar.update(i, 4); await pause(50); }
bar.stop();
process.stdout.write('done\\n');
`;
// A spinner that runs until Ctrl-C.
const SPIN = `
const {startStage} = await import(${JSON.stringify(PROGRESS)});
await startStage('preparing builtin:tiny-sd');
await new Promise((r) => setTimeout(r, 15000));
process.stdout.write('not interrupted\\n');
`;
const run = (cols: number, rows: number, script = SCRIPT, react?: PtyOptions['react']) =>
  inPty([process.execPath, '--input-type=module', '-e', script], {...process.env, NO_COLOR: '1'}, {cols, rows, timeoutMs: 20_000, react});

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'progress.js'))) throw new Error('dist/ is missing: run `npm run build` first');
});

describe('live progress and terminal geometry', () => {
  it('a TTY that reports no width is not live', () => {
    expect(isLiveTerminal({isTTY: true, columns: 0})).toBe(false);
    expect(isLiveTerminal({isTTY: true})).toBe(false);
    expect(isLiveTerminal({isTTY: false, columns: 80})).toBe(false);
    expect(isLiveTerminal({isTTY: true, columns: 80})).toBe(true);
  });

  (hasScript ? it : it.skip)('0 columns: finishes, draws nothing (no erase-line or cursor-up codes)', async () => {
    const r = await run(0, 0);
    expect(r.code).toBe(0);
    expect(r.screen).toBe('done\r\n');
  }, 30_000);

  (hasScript ? it : it.skip)('a normal terminal still gets the spinner and the bar', async () => {
    const r = await run(100, 30);
    expect(r.code).toBe(0);
    expect(r.screen).toMatch(/preparing builtin:tiny-sd/);
    expect(r.screen).toMatch(/denoising \[.*\] [1-4]\/4 steps/);
    expect(r.screen.length).toBeLessThan(20_000);
  }, 30_000);

  (hasScript ? it : it.skip)('Ctrl-C while the spinner runs interrupts (ora put the terminal in raw mode and swallowed it)', async () => {
    const ctrlC = typeWhen((s) => /preparing builtin:tiny-sd/.test(s), [['\x03', 0]]);
    const r = await run(100, 30, SPIN, ctrlC.react);
    expect(ctrlC.typed()).toBe(true);
    expect(r.screen).not.toMatch(/not interrupted/);
    expect(r.code).toBe(130);
  }, 30_000);
});
