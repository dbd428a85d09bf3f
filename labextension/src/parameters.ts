/**
 * Launch parameters (issue 14): an app's `parameters` schema as servers-info sends it, the
 * form fields built from it, and their validation before anything is sent.
 *
 * The schema is the small JSON Schema subset of the contract: an object whose properties are
 * strings (`pattern`, `enum`, `minLength`, `maxLength`), integers or numbers (`minimum`,
 * `maximum`, `enum`) or booleans, each with an optional `title`, `description` and `default`,
 * and a `required` list. The server validates again; the form only spares the user a
 * round trip, so where the two could disagree (a pattern JavaScript cannot compile) the
 * form lets the value through and the server's 400 is shown instead.
 *
 * Pure functions on plain data, unit-tested without a browser.
 */

import { isObject, Json, ValidationError } from './json';

export type ParameterType = 'string' | 'integer' | 'number' | 'boolean';
export type ParameterValue = string | number | boolean;

export interface IParameter {
  name: string;
  type: ParameterType;
  /** The field's label: the schema's `title`, or the property's name. */
  title: string;
  description: string | null;
  default: ParameterValue | null;
  /** The allowed values, shown as a select; null for a free field. */
  enum: ParameterValue[] | null;
  pattern: string | null;
  minLength: number | null;
  maxLength: number | null;
  minimum: number | null;
  maximum: number | null;
  required: boolean;
}

const TYPES: ReadonlySet<string> = new Set([
  'string',
  'integer',
  'number',
  'boolean'
]);

function fitsType(value: Json, type: ParameterType): value is ParameterValue {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
  }
}

function optionalNumber(
  prop: Record<string, Json>,
  key: string,
  where: string
): number | null {
  const value = prop[key];
  if (value === undefined || value === null) {
    return null;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ValidationError(`${where}.${key} should be a number`);
  }
  return value;
}

function optionalString(
  prop: Record<string, Json>,
  key: string,
  where: string
): string | null {
  const value = prop[key];
  if (value === undefined || value === null) {
    return null;
  }
  if (typeof value !== 'string') {
    throw new ValidationError(`${where}.${key} should be a string`);
  }
  return value;
}

function parseProperty(
  name: string,
  value: Json,
  required: boolean,
  where: string
): IParameter {
  if (!isObject(value)) {
    throw new ValidationError(`${where} should be an object`);
  }
  const type = value['type'];
  if (typeof type !== 'string' || !TYPES.has(type)) {
    throw new ValidationError(
      `${where}.type should be string, integer, number or boolean, got ${JSON.stringify(type)}`
    );
  }
  const kind = type as ParameterType;
  let choices: ParameterValue[] | null = null;
  if (value['enum'] !== undefined) {
    const raw = value['enum'];
    if (
      !Array.isArray(raw) ||
      !raw.length ||
      !raw.every(v => fitsType(v, kind))
    ) {
      throw new ValidationError(
        `${where}.enum should be a non-empty list of ${kind} values`
      );
    }
    choices = raw as ParameterValue[];
  }
  const fallback = value['default'];
  if (
    fallback !== undefined &&
    fallback !== null &&
    !fitsType(fallback, kind)
  ) {
    throw new ValidationError(
      `${where}.default should be a ${kind}, got ${JSON.stringify(fallback)}`
    );
  }
  return {
    name,
    type: kind,
    title: optionalString(value, 'title', where) || name,
    description: optionalString(value, 'description', where),
    default: fallback === undefined || fallback === null ? null : fallback,
    enum: choices,
    pattern: optionalString(value, 'pattern', where),
    minLength: optionalNumber(value, 'minLength', where),
    maxLength: optionalNumber(value, 'maxLength', where),
    minimum: optionalNumber(value, 'minimum', where),
    maximum: optionalNumber(value, 'maximum', where),
    required
  };
}

/**
 * An app's `parameters` from servers-info: null when it has none (a 4.x-era server sends no
 * such key); throws `ValidationError` naming the bad part of a schema it cannot build a form
 * from.
 */
export function parseParameters(
  value: Json,
  where: string
): IParameter[] | null {
  if (value === undefined || value === null) {
    return null;
  }
  if (!isObject(value) || (value['type'] ?? 'object') !== 'object') {
    throw new ValidationError(`${where} should be a schema of type object`);
  }
  const properties = value['properties'] ?? {};
  if (!isObject(properties)) {
    throw new ValidationError(`${where}.properties should be an object`);
  }
  const required = value['required'] ?? [];
  if (!Array.isArray(required) || !required.every(r => typeof r === 'string')) {
    throw new ValidationError(`${where}.required should be a list of names`);
  }
  const params = Object.entries(properties).map(([name, prop]) =>
    parseProperty(
      name,
      prop,
      required.includes(name),
      `${where}.properties.${name}`
    )
  );
  return params.length ? params : null;
}

/**
 * What a form field holds: a text input's or select's text, or a checkbox's state. A select's
 * text is the index of the chosen `enum` value, so numbers and strings come back exact; ''
 * is "nothing chosen".
 */
export type FieldValue = string | boolean;
export type Fields = Record<string, FieldValue>;

/** The form's starting values: each parameter's default, or what was given last time. */
export function initialFields(
  params: IParameter[],
  given: Readonly<Record<string, unknown>> = {}
): Fields {
  const fields: Fields = {};
  for (const p of params) {
    const previous = given[p.name];
    const start = fitsType(previous, p.type) ? previous : p.default;
    if (p.type === 'boolean') {
      fields[p.name] = start === true;
    } else if (p.enum) {
      const index = start === null ? -1 : p.enum.indexOf(start);
      fields[p.name] = index < 0 ? '' : String(index);
    } else {
      fields[p.name] = start === null ? '' : String(start);
    }
  }
  return fields;
}

export interface IChecked {
  /** The values to send, by parameter name (left-out optional fields are not sent). */
  values: Record<string, ParameterValue>;
  /** What is wrong, by parameter name; empty when the values can be sent. */
  errors: Record<string, string>;
}

function checkNumber(p: IParameter, text: string): number | string {
  const trimmed = text.trim();
  const value = Number(trimmed);
  if (
    !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(trimmed) ||
    !Number.isFinite(value)
  ) {
    return `${p.title} must be a number`;
  }
  if (p.type === 'integer' && !Number.isInteger(value)) {
    return `${p.title} must be a whole number`;
  }
  if (p.minimum !== null && value < p.minimum) {
    return `${p.title} must be at least ${p.minimum}`;
  }
  if (p.maximum !== null && value > p.maximum) {
    return `${p.title} must be at most ${p.maximum}`;
  }
  return value;
}

/** JSON Schema's `pattern` is an unanchored ECMA-262 regular expression. */
function matches(pattern: string, text: string): boolean {
  let re: RegExp;
  try {
    re = new RegExp(pattern, 'u');
  } catch {
    return true; // the server, which has the last word, judges it
  }
  return re.test(text);
}

function checkString(p: IParameter, text: string): string | null {
  const length = [...text].length; // code points, as JSON Schema counts
  if (p.minLength !== null && length < p.minLength) {
    return `${p.title} must be at least ${p.minLength} characters`;
  }
  if (p.maxLength !== null && length > p.maxLength) {
    return `${p.title} must be at most ${p.maxLength} characters`;
  }
  if (p.pattern !== null && !matches(p.pattern, text)) {
    return `${p.title} must match ${p.pattern}`;
  }
  return null;
}

/**
 * Check the form's fields against the schema and turn them into the values to send. An empty
 * text field is "not given": an error for a required parameter, left out otherwise (the
 * server then applies the default).
 */
export function checkFields(params: IParameter[], fields: Fields): IChecked {
  const values: Record<string, ParameterValue> = {};
  const errors: Record<string, string> = {};
  for (const p of params) {
    const field = fields[p.name];
    if (p.type === 'boolean') {
      values[p.name] = field === true;
      continue;
    }
    const text = typeof field === 'string' ? field : '';
    if (text === '') {
      if (p.required) {
        errors[p.name] = `${p.title} is required`;
      }
      continue;
    }
    if (p.enum) {
      const choice = p.enum[Number(text)];
      if (choice === undefined) {
        errors[p.name] = `${p.title} must be one of the listed values`;
      } else {
        values[p.name] = choice;
      }
      continue;
    }
    if (p.type === 'string') {
      const problem = checkString(p, text);
      if (problem) {
        errors[p.name] = problem;
      } else {
        values[p.name] = text;
      }
      continue;
    }
    const number = checkNumber(p, text);
    if (typeof number === 'string') {
      errors[p.name] = number;
    } else {
      values[p.name] = number;
    }
  }
  return { values, errors };
}

/** The values an instance started with, for its tooltip: `logdir=/x, workers=2`. */
export function describeValues(values: Readonly<Record<string, unknown>>) {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}
