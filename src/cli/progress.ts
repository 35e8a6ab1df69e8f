// Spinners and the denoising bar: stderr only, and only on a TTY that reports its width (nothing at all otherwise:
// a 0-column terminal made ora clear lines in an endless synchronous loop that also blocked every signal).
import {isLiveTerminal} from '../sources/download/progress.js';

export interface Stage {
  text(t: string): void;
  stop(): void;
}

export async function startStage(initial: string): Promise<Stage> {
  if (!isLiveTerminal(process.stderr)) return {text: () => {}, stop: () => {}};
  const {default: ora} = await import('ora');
  // discardStdin off: ora's discarder puts the terminal in raw mode (so Ctrl-C sends no SIGINT) and is meant to re-send
  // it from a 'data' listener, but it never starts stdin flowing, so Ctrl-C was swallowed while the spinner ran.
  const spinner = ora({text: initial, stream: process.stderr, color: process.env.NO_COLOR ? undefined : 'cyan', discardStdin: false}).start();
  // A terminal resized to 0 columns while the spinner runs: stop drawing before ora's next frame divides by 0.
  let live = true;
  const stop = () => {
    if (!live) return;
    live = false;
    process.stderr.removeListener('resize', onResize);
    spinner.stop();
  };
  const onResize = () => {
    if (!isLiveTerminal(process.stderr)) stop();
  };
  process.stderr.on('resize', onResize);
  return {
    text: (t) => {
      if (!live) return;
      // Draw a new stage at once: ora only redraws on its next frame, which a busy machine can delay past a short
      // stage (a fast load never showed "loading ...").
      spinner.text = t;
      spinner.render();
    },
    stop,
  };
}

export interface StepBar {
  update(step: number, steps: number): void;
  stop(): void;
}

export async function startStepBar(label: string): Promise<StepBar> {
  if (!isLiveTerminal(process.stderr)) return {update: () => {}, stop: () => {}};
  const {default: cliProgress} = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    // The ETA is left out until a step has finished (cli-progress says 'ETA 0s' before the first one).
    {stream: process.stderr, format: `${label} [{bar}] {value}/{total} steps | {duration_formatted}{left}`, hideCursor: true, clearOnComplete: true},
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let t0 = 0;
  const left = (step: number, steps: number) => {
    if (step <= 0 || step >= steps) return {left: ''};
    const s = Math.ceil((((Date.now() - t0) / step) * (steps - step)) / 1000);
    return {left: ` | ETA ${s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`}`};
  };
  return {
    update: (step, steps) => {
      if (!started) {
        t0 = Date.now();
        bar.start(steps, 0, left(0, steps));
        started = true;
      }
      bar.setTotal(steps);
      bar.update(step, left(step, steps));
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
