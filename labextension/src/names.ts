/**
 * Instance names (the contract of issue 14): an app with `instances: true` can run more than
 * once; an instance is addressed as `<name>@<instance>` in the API and at
 * `<base_url><name>@<instance>/` in the browser. The default instance is the plain `<name>`.
 */

/** The instance part: letters, digits, `_` and `-`, 1 to 32 of them. */
export const INSTANCE_NAME = /^[A-Za-z0-9_-]{1,32}$/;

export interface IAppName {
  app: string;
  instance: string | null;
}

/** `tb@exp1` → `{app: 'tb', instance: 'exp1'}`; `tb` → `{app: 'tb', instance: null}`. */
export function splitName(name: string): IAppName {
  const at = name.indexOf('@');
  return at < 0
    ? { app: name, instance: null }
    : { app: name.slice(0, at), instance: name.slice(at + 1) };
}

/** The addressable name of an app's instance (the app's own name for the default one). */
export function joinName(app: string, instance: string | null): string {
  return instance === null ? app : `${app}@${instance}`;
}

/** Why an instance name cannot be used, or null when it can. */
export function instanceNameProblem(name: string): string | null {
  if (!name) {
    return 'Give the instance a name';
  }
  if (!INSTANCE_NAME.test(name)) {
    return 'An instance name has 1 to 32 letters, digits, "_" or "-"';
  }
  return null;
}

/** A name for a new instance that none of `taken` has: "2", "3", ... */
export function freeInstanceName(taken: Iterable<string>): string {
  const used = new Set(taken);
  let n = 2;
  while (used.has(String(n))) {
    n += 1;
  }
  return String(n);
}
