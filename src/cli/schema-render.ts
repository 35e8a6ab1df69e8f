// `mgen schema` output: a table of the pipeline's settable parameters, or the JSON Schema itself.
export function renderSchemaTable(schema: Record<string, unknown>, pipeline: string): string {
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const rows = Object.entries(props).map(([name, p]) => [name, typeText(p), p.default === undefined ? '' : JSON.stringify(p.default), String(p.description ?? '').split('\n')[0]!.slice(0, 70)]);
  const head = ['parameter', 'type', 'default', 'description'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [`${pipeline}: ${rows.length} parameters`, line(head), ...rows.map(line)].join('\n') + '\n';
}

function typeText(p: Record<string, unknown>): string {
  if (Array.isArray(p.enum)) return (p.enum as unknown[]).map((v) => JSON.stringify(v)).join('|');
  if (typeof p.type === 'string') return p.type === 'array' && p.items ? `${typeText(p.items as Record<string, unknown>)}[]` : p.type;
  if (Array.isArray(p.type)) return (p.type as string[]).join('|');
  const alts = (p.anyOf ?? p.oneOf) as Array<Record<string, unknown>> | undefined;
  if (alts) return alts.map(typeText).join('|');
  return 'any';
}
