// Runs a command on a real pseudo-terminal (util-linux `script`), for tests of what a user sees on a TTY:
// progress bars, spinners, prompts. Keys are typed through the terminal; stdout may be sent to a file instead.
import {spawn, spawnSync} from 'node:child_process';

export const hasScript = spawnSync('script', ['--version']).status === 0;

export interface PtyRun {
  code: number | null;
  /** Everything the terminal showed (stderr, and stdout unless redirected), control sequences included. */
  screen: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface PtyOptions {
  stdoutTo?: string;
  timeoutMs?: number;
  /** The terminal's size (default 100x30); 0x0 is what `script` with no real terminal, or `docker run -t`, reports. */
  cols?: number;
  rows?: number;
  /** The umask the command runs with (octal, "022"); default: inherited. */
  umask?: string;
  react?: (screen: string, type: (keys: string) => void) => void;
  /** Called once the terminal is up, with a way to type keys (Ctrl-C is "\x03") that does not wait for output. */
  onStart?: (type: (keys: string) => void) => void;
}

/** `argv` on a 100x30 terminal; `react` sees the screen so far after each output and may type keys. */
export function inPty(argv: string[], env: NodeJS.ProcessEnv, opts: PtyOptions = {}): Promise<PtyRun> {
  const size = `stty cols ${opts.cols ?? 100} rows ${opts.rows ?? 30}; `;
  const umask = opts.umask ? `umask ${opts.umask}; ` : '';
  const cmd = `${size}${umask}exec ${argv.map(q).join(' ')}${opts.stdoutTo ? ` > ${q(opts.stdoutTo)}` : ''}`;
  return new Promise((res) => {
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], {env: {...env, TERM: 'xterm-256color'}, stdio: ['pipe', 'pipe', 'pipe']});
    let screen = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    const type = (keys: string) => {
      if (child.stdin.writable) child.stdin.write(keys);
    };
    opts.onStart?.(type);
    child.stdout.on('data', (c: Buffer) => {
      screen += c.toString('utf8');
      opts.react?.(screen, type);
    });
    child.stderr.on('data', (c: Buffer) => (screen += c.toString('utf8')));
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      if (process.env.PTY_DEBUG) process.stderr.write(`\n=== ${argv.join(' ')} rc=${code}\n${JSON.stringify(screen)}\n`);
      res({code, screen});
    });
  });
}

/** The screen as lines: each control sequence (cursor moves redraw bars in place) and carriage return ends a line. */
export const plainScreen = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '\n').replace(/\r\n?/g, '\n').replace(/\n+/g, '\n');

/**
 * A `react` for inPty that types once, the first time `when` holds for the screen: each `[keys, afterMs]` in turn,
 * `afterMs` after that moment. `typed()` says whether it happened (a test asserts it, so a missed prompt fails).
 */
export function typeWhen(when: (screen: string) => boolean, keys: Array<[string, number]>) {
  let typed = false;
  return {
    typed: () => typed,
    react: (screen: string, type: (keys: string) => void) => {
      if (typed || !when(screen)) return;
      typed = true;
      for (const [k, afterMs] of keys) {
        if (afterMs > 0) setTimeout(() => type(k), afterMs);
        else type(k);
      }
    },
  };
}
