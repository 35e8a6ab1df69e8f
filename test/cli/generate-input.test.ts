import {describe, expect, it} from '@jest/globals';
import {buildGenerateInput, type GenerateFlagValues} from '../../src/cli/generate-input.js';

describe('buildGenerateInput from a PNG', () => {
  const from = {scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: {use_karras_sigmas: true}};

  it('keeps the PNG scheduler config with its scheduler, and drops it when --scheduler names another', () => {
    expect(buildGenerateInput({} as GenerateFlagValues, 'p', from)).toMatchObject(from);
    const other = buildGenerateInput({scheduler: 'EulerDiscreteScheduler'} as GenerateFlagValues, 'p', from);
    expect(other.scheduler).toBe('EulerDiscreteScheduler');
    expect(other.schedulerConfig).toBeUndefined();
  });
});
