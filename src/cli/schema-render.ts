// `mgen schema` output: a table of the pipeline's settable parameters, or the JSON Schema itself.

/** The defaults a request without flags gets from mgen (the model report's family defaults), not the pipeline's. */
export interface MgenDefaults {
  width: number;
  height: number;
  steps: number;
  guidance_scale: number;
}

/**
 * The schema with each request field's `default` set to what mgen will send when the flag is left out (the report's
 * family defaults override the pipeline signature's: 30 steps, not __call__'s 50). The signature's own default is kept
 * as `x-pipeline-default`. Width and height only for text-to-image: other tasks take the input image's size.
 */
export function withMgenDefaults(schema: Record<string, unknown>, defaults: MgenDefaults | null, task: string): Record<string, unknown> {
  if (!defaults) return schema;
  const byField: Record<string, number> = {steps: defaults.steps, guidance_scale: defaults.guidance_scale};
  if (task === 'text-to-image') Object.assign(byField, {width: defaults.width, height: defaults.height});
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, p] of Object.entries(props)) {
    const field = p['x-mgen-request-field'];
    const value = typeof field === 'string' && Object.hasOwn(byField, field) ? byField[field] : undefined;
    if (value === undefined || p.default === value) {
      out[name] = p;
      continue;
    }
    const {default: pipelineDefault, ...rest} = p;
    out[name] = {...rest, default: value, ...(pipelineDefault !== undefined ? {'x-pipeline-default': pipelineDefault} : {})};
  }
  return {...schema, properties: out};
}

export function renderSchemaTable(schema: Record<string, unknown>, pipeline: string): string {
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const rows = Object.entries(props).map(([name, p]) => [name, typeText(p), p.default === undefined ? '' : JSON.stringify(p.default), summary(p.description)]);
  const head = ['parameter', 'type', 'default', 'description'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [`${pipeline}: ${rows.length} parameters`, line(head), ...rows.map(line)].join('\n') + '\n';
}

/** A description's first sentence, at most 70 characters, control characters removed. */
export function summary(description: unknown, max = 70): string {
  if (typeof description !== 'string') return '';
  // eslint-disable-next-line no-control-regex
  const text = description.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/\s+/g, ' ').trim();
  const first = /^.*?[.!?](?=\s|$)/.exec(text)?.[0] ?? text;
  return first.length > max ? first.slice(0, max - 3).trimEnd() + '...' : first;
}

function typeText(p: Record<string, unknown>): string {
  if (Array.isArray(p.enum)) return (p.enum as unknown[]).map((v) => JSON.stringify(v)).join('|');
  if (typeof p.type === 'string') return p.type === 'array' && p.items ? `${typeText(p.items as Record<string, unknown>)}[]` : p.type;
  if (Array.isArray(p.type)) return (p.type as string[]).join('|');
  const alts = (p.anyOf ?? p.oneOf) as Array<Record<string, unknown>> | undefined;
  if (alts) return alts.map(typeText).join('|');
  return 'any';
}
