// Interactive choice on a TTY (lazy @inquirer/prompts); undefined when stdin or stderr is not a TTY, so
// callers fail with a usage error that lists the choices instead.
import {InterruptedError} from '../errors.js';

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
    try {
      return await select<T>({message, choices}, {output: process.stderr});
    } catch (err) {
      // Ctrl-C in the prompt (raw mode: a key, not a signal) or a closed terminal: an interruption, exit 130,
      // not an internal error with inquirer's message.
      if (err instanceof Error && (err.name === 'ExitPromptError' || err.name === 'AbortPromptError')) {
        throw new InterruptedError('interrupted: no file was chosen');
      }
      throw err;
    }
  };
}
