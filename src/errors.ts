// Typed errors and the one table that maps them to exit codes (shared/ARCHITECTURE.md, "Exit codes").
// Commands throw these; src/base-command.ts turns them into a one-line message and the exit code.
import {escapeControl} from './render/escape-control.js';

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  notFound: 3,
  auth: 4,
  network: 5,
  invalidModel: 6,
  runtime: 7,
  generation: 8,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class MgenError extends Error {
  readonly exitCode: ExitCodeValue = ExitCode.internal;
  /** Extra lines shown only with --verbose / MGEN_DEBUG=1 (HTTP status, worker stderr, ...). */
  detail?: string;
  /** A short "what to do" appended to the one-line message. */
  hint?: string;
  /**
   * Lines printed under the one-line message, for what does not fit on it (the accepted MODEL_ID forms): the first
   * line stays short and names the problem; these explain. Shown by the CLI only, never in an HTTP error.
   */
  hintLines?: string[];
  /** The request field or flag the error is about ("loras[1].name"), for an HTTP error's `param`. */
  readonly field?: string;
  constructor(message: string, opts: {hint?: string; hintLines?: string[]; detail?: string; cause?: unknown; field?: string} = {}) {
    super(message, opts.cause === undefined ? undefined : {cause: opts.cause});
    this.name = new.target.name;
    this.hint = opts.hint;
    this.hintLines = opts.hintLines;
    this.detail = opts.detail;
    this.field = opts.field;
  }
}

export class UsageError extends MgenError {
  override readonly exitCode = ExitCode.usage;
}
export class NotFoundError extends MgenError {
  override readonly exitCode = ExitCode.notFound;
}
export class AuthError extends MgenError {
  override readonly exitCode = ExitCode.auth;
}
export class NetworkError extends MgenError {
  override readonly exitCode = ExitCode.network;
}
export class InvalidModelError extends MgenError {
  override readonly exitCode = ExitCode.invalidModel;
}
export class RuntimeSetupError extends MgenError {
  override readonly exitCode = ExitCode.runtime;
}
export class GenerationError extends MgenError {
  override readonly exitCode = ExitCode.generation;
}
/** The local disk cannot take what must be written (ENOSPC, EDQUOT): the message names the path and the bytes needed. */
export class StorageError extends MgenError {
  override readonly exitCode = ExitCode.runtime;
}
export class InterruptedError extends MgenError {
  override readonly exitCode = ExitCode.interrupted;
  constructor(message = 'interrupted') {
    super(message);
  }
}

/** Exit code for anything thrown: our typed errors, oclif's parse errors (exit 2), else 1. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof MgenError) return err.exitCode;
  const oclif = (err as {oclif?: {exit?: number}} | undefined)?.oclif;
  if (oclif && typeof oclif.exit === 'number') return oclif.exit;
  const code = (err as {code?: string} | undefined)?.code;
  if (code === 'ENOENT') return ExitCode.notFound;
  if (code === 'EACCES' || code === 'EISDIR') return ExitCode.invalidModel;
  return ExitCode.internal;
}

const TOKEN_PATTERNS: RegExp[] = [
  /(authorization:\s*)(bearer\s+)?[^\s,;]+/gi,
  /([?&]token=)[^&\s]+/gi,
  /\bhf_[A-Za-z0-9]{8,}\b/g,
  /(bearer\s+)[A-Za-z0-9._~+/=-]{6,}/gi,
];

/** Removes tokens from any text before it is printed or logged (CONVENTIONS: never log a token). */
export function redact(text: string, secrets: Array<string | undefined> = []): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('***');
  for (const re of TOKEN_PATTERNS) {
    out = out.replace(re, (m, p1?: string, p2?: string) => {
      if (typeof p1 === 'string' && m.startsWith(p1)) return `${p1}${p2 ?? ''}***`;
      return '***';
    });
  }
  return out;
}

/**
 * The one-line message a user sees, then the error's own hint lines (indented), then detail lines when verbose.
 * Every part has its control characters escaped: a message can carry a hostile file, tensor or listing name, and an
 * ESC or OSC sequence in it must not retitle, clear or rewrite the user's terminal (issue 16).
 */
export function formatError(err: unknown, verbose: boolean, secrets: Array<string | undefined> = []): string {
  let line: string;
  let detail = '';
  let more: string[] = [];
  if (err instanceof MgenError) {
    line = err.message + (err.hint ? ` (${err.hint})` : '');
    more = (err.hintLines ?? []).map((l) => `  ${l}`);
    if (verbose) detail = [err.detail, err.stack].filter(Boolean).join('\n');
  } else if (err instanceof Error) {
    const code = exitCodeFor(err);
    line = code === ExitCode.internal ? `internal error: ${err.message}` : err.message;
    if (verbose || code === ExitCode.internal) detail = verbose ? String(err.stack ?? '') : 'run again with --verbose for details';
  } else {
    line = `internal error: ${String(err)}`;
  }
  const firstLine = line.split('\n')[0] ?? line;
  const text = [`mgen: error: ${firstLine}`, ...more, ...(detail ? [detail] : [])].join('\n');
  return redact(escapeControl(text), secrets);
}

export function isVerbose(flagValue?: boolean): boolean {
  return Boolean(flagValue) || process.env.MGEN_DEBUG === '1';
}
