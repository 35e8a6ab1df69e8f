// oclif's parse errors, reshaped into mgen's one-line usage errors (exit 2) that say the reason: oclif puts the reason
// of a bad flag value on its second line ("Parsing --steps \n\tExpected an integer ...") and the missing argument's
// name on the lines under "Missing 1 required arg:", and mgen prints one line (issue 10). Unknown flags and commands
// get a "did you mean" from the names the command (or the CLI) knows.
import {UsageError} from '../errors.js';

/** Edit distance (insert, delete, substitute, swap of neighbours), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({length: a.length + 1}, (_, i) => Array.from({length: b.length + 1}, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known name closest to `typed`, when it is close enough to be a typo (about a third of its letters). */
export function closest(typed: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(typed.toLowerCase(), k.toLowerCase());
    if (dist < bestD) {
      best = k;
      bestD = dist;
    }
  }
  const limit = Math.max(2, Math.floor(typed.length / 3));
  return best !== undefined && bestD > 0 && bestD <= limit ? best : undefined;
}

/** "expected an integer >= 1, got 0" for oclif's "Expected an integer greater than or equal to 1 but received: 0". */
export function shapeReason(reason: string): string {
  const r = reason.trim();
  let m = /^Expected an integer greater than or equal to (\S+) but received: (.*)$/s.exec(r);
  if (m) return `expected an integer >= ${m[1]}, got ${m[2]}`;
  m = /^Expected an integer less than or equal to (\S+) but received: (.*)$/s.exec(r);
  if (m) return `expected an integer <= ${m[1]}, got ${m[2]}`;
  m = /^Expected an integer but received: (.*)$/s.exec(r);
  if (m) return `expected an integer, got ${m[1]}`;
  return r.charAt(0).toLowerCase() + r.slice(1);
}

// oclif colours some reasons (FailedFlagValidationError dims them).
// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
const SEE_HELP = /\n?See more help with --help\s*$/;

export interface ParseContext {
  /** `mgen generate`: how the command is typed, for "see ... --help". */
  command: string;
  /** The command's flag names, without dashes. */
  flags: string[];
}

type OclifError = Error & {oclif?: {exit?: number}; args?: Array<{name?: string; description?: string}>; flags?: string[]};

/**
 * The usage error to print for an oclif parse error (or an error a flag's own parser threw), or undefined when `err`
 * is not one. A typed mgen error thrown by a flag parser keeps its class (and so its exit code).
 */
export function fromParseError(err: unknown, ctx: ParseContext): Error | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as OclifError;
  const kind = e.constructor?.name;
  const message = stripAnsi(e.message);
  const parsing = /^Parsing --([\w-]+) ?\n\t([\s\S]*?)(?:\nSee more help with --help)?$/.exec(message);
  if (parsing) {
    const text = `--${parsing[1]}: ${shapeReason(parsing[2]!)}`;
    if (e instanceof UsageError || e.constructor === Error || kind === 'CLIError') return new UsageError(text);
    e.message = text; // another typed mgen error: keep its class and exit code
    return e;
  }
  if (kind === 'RequiredArgsError' && Array.isArray(e.args)) {
    const named = e.args.filter((a) => a.name).map((a) => (a.description ? `${a.name} (${a.description})` : String(a.name)));
    return new UsageError(named.length === 1 ? `missing required argument: ${named[0]}` : `missing required arguments: ${named.join(', ')}`);
  }
  if (kind === 'NonExistentFlagsError' && Array.isArray(e.flags)) {
    const names = e.flags.map((f) => f.replace(/=.*$/s, ''));
    if (names.length === 1) {
      const name = names[0]!;
      const guess = name.startsWith('--') ? closest(name.slice(2), ctx.flags) : undefined;
      return new UsageError(`Unknown flag ${name}`, {hint: guess ? `did you mean --${guess}?` : `see ${ctx.command} --help`});
    }
    return new UsageError(`Unknown flags ${names.join(', ')}`, {hint: `see ${ctx.command} --help`});
  }
  if (kind === 'FailedFlagValidationError' || kind === 'ViolatedFlagConstraintError') {
    const reasons = message.replace(SEE_HELP, '').split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
    return new UsageError(reasons.join('; ') || message.split('\n')[0]!);
  }
  if (kind === 'CLIParseError' || kind === 'UnexpectedArgsError' || kind === 'FlagInvalidOptionError' || kind === 'ArgInvalidOptionError') {
    return new UsageError(message.replace(SEE_HELP, '').split('\n')[0]!, {hint: `see ${ctx.command} --help`});
  }
  return undefined;
}

/** "command genrate not found (did you mean generate?)" for an unknown command id (`runtime:instal` is `runtime instal`). */
export function commandNotFound(id: string, known: {commands: string[]; topics: string[]}): UsageError {
  const parts = id.split(':').filter(Boolean);
  // The typed words up to the first one that is not a known topic are the command that was not found.
  let n = 1;
  while (n < parts.length && known.topics.includes(parts.slice(0, n).join(':'))) n++;
  const typed = parts.slice(0, n).join(':');
  const sameDepth = known.commands.filter((c) => c.split(':').length === n);
  const guess = closest(typed, sameDepth);
  const show = (s: string) => s.split(':').join(' ');
  return new UsageError(`command ${show(typed)} not found`, {hint: guess ? `did you mean ${show(guess)}?` : 'see mgen --help'});
}
