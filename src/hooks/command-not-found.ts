// oclif's command_not_found hook: "command genrate not found (did you mean generate?)", exit 2, printed like every
// other mgen error (without it oclif prints " ›   Error: command genrate not found").
import type {Hook} from '@oclif/core';
import {commandNotFound} from '../cli/parse-errors.js';
import {exitCodeFor, formatError} from '../errors.js';

const hook: Hook<'command_not_found'> = async function (opts) {
  const err = commandNotFound(opts.id, {
    commands: opts.config.commands.filter((c) => !c.hidden).map((c) => c.id),
    topics: opts.config.topics.map((t) => t.name),
  });
  process.stderr.write(formatError(err, false) + '\n');
  process.exitCode = exitCodeFor(err);
};

export default hook;
