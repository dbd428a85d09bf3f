/**
 * Reading JSON from the server without trusting it: each helper checks one field's type and
 * throws `ValidationError` naming the field (`servers[2].state`), so a bad answer is reported
 * where it is wrong instead of failing later in the UI.
 */

export class ValidationError extends Error {}

export type Json = unknown;

export function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function str(
  obj: Record<string, Json>,
  key: string,
  where: string,
  fallback?: string
): string {
  const value = obj[key];
  if (value === undefined && fallback !== undefined) {
    return fallback;
  }
  if (typeof value !== 'string') {
    throw new ValidationError(
      `${where}.${key} should be a string, got ${JSON.stringify(value)}`
    );
  }
  return value;
}

export function bool(
  obj: Record<string, Json>,
  key: string,
  where: string,
  fallback: boolean
): boolean {
  const value = obj[key];
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== 'boolean') {
    throw new ValidationError(
      `${where}.${key} should be true or false, got ${JSON.stringify(value)}`
    );
  }
  return value;
}

export function numOrNull(
  obj: Record<string, Json>,
  key: string,
  where: string
): number | null {
  const value = obj[key];
  if (value === undefined || value === null) {
    return null;
  }
  if (typeof value !== 'number') {
    throw new ValidationError(
      `${where}.${key} should be a number, got ${JSON.stringify(value)}`
    );
  }
  return value;
}

export function strOrNull(
  obj: Record<string, Json>,
  key: string,
  where: string
): string | null {
  const value = obj[key];
  if (value === undefined || value === null) {
    return null;
  }
  if (typeof value !== 'string') {
    throw new ValidationError(
      `${where}.${key} should be a string, got ${JSON.stringify(value)}`
    );
  }
  return value;
}
