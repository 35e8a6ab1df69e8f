import {BaseCommand} from '../../base-command.js';
import {RuntimeSetupError} from '../../errors.js';

export default class RuntimeWhich extends BaseCommand {
  static override description = 'Print the runtime\'s Python interpreter ($MGEN_PYTHON or the provisioned venv); exit 7 when there is none';

  async run(): Promise<void> {
    await this.parse(RuntimeWhich);
    const {findRuntime} = await import('../../backends/runtime/resolve.js');
    const loc = await findRuntime();
    if (!loc) throw new RuntimeSetupError('no Python runtime is provisioned', {hint: 'run `mgen runtime install`'});
    process.stdout.write(loc.python + '\n');
  }
}
