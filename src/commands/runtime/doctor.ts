import {Flags} from '@oclif/core';
import {BaseCommand} from '../../base-command.js';
import {RuntimeSetupError} from '../../errors.js';

export default class RuntimeDoctor extends BaseCommand {
  static override description = 'Check the Python runtime for real: interpreter, torch, CUDA, GPU memory, diffusers, disk; say what to fix';
  static override flags = {json: Flags.boolean({description: 'print the findings as JSON'})};

  async run(): Promise<void> {
    const {flags} = await this.parse(RuntimeDoctor);
    const {runDoctor} = await import('../../backends/runtime/doctor.js');
    const {renderDoctor} = await import('../../cli/doctor-render.js');
    const report = await runDoctor();
    process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : renderDoctor(report));
    if (!report.ok) throw new RuntimeSetupError(`${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} found: ${report.problems[0]!.problem}`, {hint: report.problems[0]!.fix});
  }
}
