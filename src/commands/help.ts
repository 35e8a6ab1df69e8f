import {Args, loadHelpClass} from '@oclif/core';
import {BaseCommand} from '../base-command.js';
import {commandNotFound} from '../cli/parse-errors.js';

// `mgen help [COMMAND...]`, as in other CLIs (oclif core has the help class; this avoids @oclif/plugin-help).
export default class Help extends BaseCommand {
  static override description = 'Show help for mgen or one of its commands';
  static override examples = ['<%= config.bin %> help generate', '<%= config.bin %> help runtime install'];
  static override strict = false;
  static override args = {command: Args.string({description: 'the command to explain (words of a command: runtime install)', required: false})};

  async run(): Promise<void> {
    const {argv} = await this.parse(Help);
    const words = (argv as string[]).filter((a) => !a.startsWith('-'));
    const id = words.join(':');
    if (id && !this.config.findCommand(id) && !this.config.findTopic(id)) {
      throw commandNotFound(id, {commands: this.config.commands.filter((c) => !c.hidden).map((c) => c.id), topics: this.config.topics.map((t) => t.name)});
    }
    const HelpClass = await loadHelpClass(this.config);
    await new HelpClass(this.config, this.config.pjson.oclif.helpOptions ?? this.config.pjson.helpOptions).showHelp(words);
  }
}
