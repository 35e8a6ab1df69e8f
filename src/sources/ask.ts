// Interactive choice on a TTY (lazy @inquirer/prompts); undefined when stdin or stderr is not a TTY, so
// callers fail with a usage error that lists the choices instead.
export interface Choice<T> {
  name: string;
  value: T;
}

export function canAsk(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY) && process.env.CI !== 'true';
}

export function asker<T>(message: string): ((choices: Array<Choice<T>>) => Promise<T>) | undefined {
  if (!canAsk()) return undefined;
  return async (choices) => {
    const {select} = await import('@inquirer/prompts');
    return select<T>({message, choices}, {output: process.stderr});
  };
}
