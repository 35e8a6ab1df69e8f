// `mgen schema`: the defaults shown are mgen's (the report's family defaults), descriptions fill the table.
import {describe, expect, it} from '@jest/globals';
import {renderSchemaTable, summary, withMgenDefaults} from '../../src/cli/schema-render.js';

const schema = {
  title: 'StableDiffusionPipeline',
  properties: {
    num_inference_steps: {type: 'integer', default: 50, 'x-mgen-request-field': 'steps', description: 'The number of denoising steps. More steps usually help.'},
    guidance_scale: {type: 'number', default: 7.5, 'x-mgen-request-field': 'guidance_scale'},
    height: {anyOf: [{type: 'integer'}, {type: 'null'}], default: null, 'x-mgen-request-field': 'height'},
    eta: {type: 'number', default: 0, description: 'Corresponds to parameter eta (η) from the DDIM paper. Only applies to the schedulers.DDIMScheduler.'},
  },
};
const defaults = {width: 512, height: 512, steps: 30, guidance_scale: 7.5};

describe('mgen schema defaults', () => {
  it('shows the steps, guidance and size a request without flags gets, keeping the pipeline\'s as x-pipeline-default', () => {
    const props = withMgenDefaults(schema, defaults, 'text-to-image').properties as Record<string, Record<string, unknown>>;
    expect(props.num_inference_steps).toMatchObject({default: 30, 'x-pipeline-default': 50});
    expect(props.guidance_scale).toEqual(schema.properties.guidance_scale); // the same value: untouched
    expect(props.height).toMatchObject({default: 512, 'x-pipeline-default': null});
    expect(props.eta).toEqual(schema.properties.eta);
  });

  it('leaves width and height to the input image for image-to-image, and the schema alone without defaults', () => {
    const props = withMgenDefaults(schema, defaults, 'image-to-image').properties as Record<string, Record<string, unknown>>;
    expect(props.height!.default).toBeNull();
    expect(props.num_inference_steps!.default).toBe(30);
    expect(withMgenDefaults(schema, null, 'text-to-image')).toBe(schema);
  });
});

describe('mgen schema table', () => {
  it('fills the description column with each description\'s first sentence', () => {
    const table = renderSchemaTable(withMgenDefaults(schema, defaults, 'text-to-image'), 'StableDiffusionPipeline');
    const lines = table.trimEnd().split('\n');
    expect(lines[0]).toBe('StableDiffusionPipeline: 4 parameters');
    expect(lines.find((l) => l.startsWith('num_inference_steps'))).toMatch(/^num_inference_steps\s+integer\s+30\s+The number of denoising steps\.$/);
    expect(lines.find((l) => l.startsWith('eta'))).toMatch(/Corresponds to parameter eta \(η\) from the DDIM paper\.$/);
  });

  it('cuts long descriptions and drops control characters', () => {
    expect(summary('a'.repeat(100))).toBe('a'.repeat(67) + '...');
    expect(summary('bad\u001b]0;title\u0007 text. More.')).toBe('bad ]0;title text.');
    expect(summary(undefined)).toBe('');
  });
});
