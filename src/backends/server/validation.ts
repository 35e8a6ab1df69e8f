// Ajv2020 for every route schema (pipeline schemas use 2020-12 keywords) and error messages that name the field.
import {Ajv2020} from 'ajv/dist/2020.js';
import type {ErrorObject, ValidateFunction} from 'ajv';

export function makeAjv(): Ajv2020 {
  return new Ajv2020({strict: false, allErrors: false, useDefaults: false, coerceTypes: false, removeAdditional: false});
}

/** The request field an Ajv error is about ("width", "params.eta", "loras[0].name"). */
export function errorField(e: ErrorObject): string {
  const parts = e.instancePath.split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const p = e.params as {missingProperty?: string; additionalProperty?: string};
  if (e.keyword === 'required' && p.missingProperty) parts.push(p.missingProperty);
  if (e.keyword === 'additionalProperties' && p.additionalProperty) parts.push(p.additionalProperty);
  let out = '';
  for (const part of parts) out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  return out || '(body)';
}

/** One line naming the field: "width: must be multiple of 8", "foo: unknown field". */
export function describeError(e: ErrorObject): string {
  const field = errorField(e);
  if (e.keyword === 'additionalProperties') return `${field}: unknown field`;
  if (e.keyword === 'required') return `${field}: required`;
  if (e.keyword === 'enum') return `${field}: must be one of ${JSON.stringify((e.params as {allowedValues: unknown[]}).allowedValues)}`;
  return `${field}: ${e.message ?? 'invalid'}`;
}

export type {ValidateFunction};
