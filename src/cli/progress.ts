// Spinners and the denoising bar: stderr only, and only on a TTY (nothing at all otherwise).
export interface Stage {
  text(t: string): void;
  stop(): void;
}

export async function startStage(initial: string): Promise<Stage> {
  if (!process.stderr.isTTY) return {text: () => {}, stop: () => {}};
  const {default: ora} = await import('ora');
  const spinner = ora({text: initial, stream: process.stderr, color: process.env.NO_COLOR ? undefined : 'cyan'}).start();
  return {
    text: (t) => {
      spinner.text = t;
    },
    stop: () => spinner.stop(),
  };
}

export interface StepBar {
  update(step: number, steps: number): void;
  stop(): void;
}

export async function startStepBar(label: string): Promise<StepBar> {
  if (!process.stderr.isTTY) return {update: () => {}, stop: () => {}};
  const {default: cliProgress} = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {stream: process.stderr, format: `${label} [{bar}] {value}/{total} steps | {duration_formatted} | ETA {eta_formatted}`, hideCursor: true, clearOnComplete: true},
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (step, steps) => {
      if (!started) {
        bar.start(steps, 0);
        started = true;
      }
      bar.setTotal(steps);
      bar.update(step);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
