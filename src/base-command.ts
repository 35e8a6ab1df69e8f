// Base class for every mgen command: the --verbose flag and the single place where errors become
// one stderr line and an exit code (no stack traces for user errors).
import {Command, Flags} from '@oclif/core';
import {exitCodeFor, formatError, isVerbose} from './errors.js';

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
    process.stderr.write(message.endsWith('\n') ? message : message + '\n');
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<void> {
    // this.exit(n) inside run() is not an error to report.
    if (err?.constructor?.name === 'ExitError') {
      process.exitCode = err.oclif?.exit ?? 0;
      return;
    }
    const code = exitCodeFor(err);
    process.stderr.write(formatError(err, this.verbose, this.secrets) + '\n');
    process.exitCode = code;
  }
}
