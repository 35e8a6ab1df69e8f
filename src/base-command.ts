// Base class for every mgen command: the --verbose flag and the single place where errors become
// one stderr line and an exit code (no stack traces for user errors).
import {Command, Flags} from '@oclif/core';
import {fromParseError, type ParseContext} from './cli/parse-errors.js';
import {exitCodeFor, formatError, isVerbose} from './errors.js';
import {escapeControl} from './render/escape-control.js';

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    verbose: Flags.boolean({description: 'show debug detail (also MGEN_DEBUG=1)', default: false, helpGroup: 'GLOBAL'}),
  };

  /** Secrets (tokens) a command saw, redacted from any error text. */
  protected secrets: Array<string | undefined> = [];

  protected get verbose(): boolean {
    return isVerbose(this.argv.includes('--verbose'));
  }

  /** Writes to stderr; progress and diagnostics never go to stdout. */
  protected note(message: string): void {
    // Notes carry names from files, hubs and the worker's stderr: never let them drive the terminal.
    const safe = escapeControl(message.endsWith('\n') ? message.slice(0, -1) : message);
    process.stderr.write(safe + '\n');
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<void> {
    // this.exit(n) inside run() is not an error to report.
    if (err?.constructor?.name === 'ExitError') {
      process.exitCode = err.oclif?.exit ?? 0;
      return;
    }
    const shaped = fromParseError(err, this.parseContext()) ?? err;
    process.stderr.write(formatError(shaped, this.verbose, this.secrets) + '\n');
    process.exitCode = exitCodeFor(shaped);
  }

  /** How this command is typed and the flags it knows, for oclif's parse errors ("did you mean --prompt?"). */
  private parseContext(): ParseContext {
    const ctor = this.constructor as typeof Command & {baseFlags?: Record<string, unknown>};
    const id = (this.id ?? ctor.id ?? '').split(':').join(' ');
    return {command: `${this.config?.bin ?? 'mgen'}${id ? ` ${id}` : ''}`, flags: Object.keys({...ctor.baseFlags, ...ctor.flags})};
  }
}
