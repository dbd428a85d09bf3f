/**
 * Pure data: the server's JSON, validated (never cast), and what the UI is built from.
 *
 * Nothing here touches the DOM or JupyterLab, so it is unit-tested on its own. Fields that
 * issue 14 adds (`instances`, `parameters`, `reason`, `stopped_at`, ...) are read when the
 * server sends them and get the meaning of their absence otherwise, so this frontend works
 * with servers from before them.
 */

import {
  bool,
  isObject,
  Json,
  numOrNull,
  str,
  strOrNull,
  ValidationError
} from './json';
import { splitName } from './names';
import { IParameter, parseParameters } from './parameters';

export { ValidationError } from './json';

export interface ILauncherEntry {
  enabled: boolean;
  title: string;
  pathInfo: string;
  category: string;
  iconUrl: string | null;
  /** Order among the cards of its launcher section, lower first; null: after the others. */
  rank: number | null;
}

export interface IServerProcess {
  name: string;
  launcherEntry: ILauncherEntry;
  newBrowserTab: boolean;
  /** Whether the app can run more than once (`<name>@<instance>`). */
  instances: boolean;
  /** The launch parameters' schema, as form fields; null: the app opens directly. */
  parameters: IParameter[] | null;
}

export type AppState = 'stopped' | 'starting' | 'running' | 'exited' | 'failed';

export interface IAppStatus {
  name: string;
  state: AppState;
  pid: number | null;
  port: number | null;
  unixSocket: string | null;
  startedAt: string | null;
  exitCode: number | null;
  url: string;
  /** The spec's name (`tb` for `tb@exp1`). */
  app: string;
  /** The instance's name; null for the app's default instance. */
  instance: string | null;
  /** The values this run started with. */
  parameters: Record<string, unknown>;
  /**
   * Why it is not running: `user`, `idle`, `exited`, `crash-loop`, `start-failed`,
   * `shutdown` (or a reason a newer server adds); null while it runs or before it ran.
   */
  reason: string | null;
  stoppedAt: string | null;
  idleTimeout: number | null;
}

/** What a launcher card / the `server-proxy:open` command receives (the peer's argument names). */
export interface IOpenArgs {
  id: string;
  title: string;
  url: string;
  newBrowserTab: boolean;
  category: string;
}

/** One entry of `server_processes`; throws `ValidationError` naming the bad field. */
export function parseServerProcess(value: Json, index: number): IServerProcess {
  const where = `server_processes[${index}]`;
  if (!isObject(value)) {
    throw new ValidationError(`${where} should be an object`);
  }
  const name = str(value, 'name', where);
  if (!name) {
    throw new ValidationError(`${where}.name is empty`);
  }
  const entryWhere = `${where}.launcher_entry`;
  const raw = value['launcher_entry'] ?? {};
  if (!isObject(raw)) {
    throw new ValidationError(`${entryWhere} should be an object`);
  }
  const iconUrl = raw['icon_url'];
  if (
    iconUrl !== undefined &&
    iconUrl !== null &&
    typeof iconUrl !== 'string'
  ) {
    throw new ValidationError(`${entryWhere}.icon_url should be a string`);
  }
  return {
    name,
    launcherEntry: {
      enabled: bool(raw, 'enabled', entryWhere, true),
      title: str(raw, 'title', entryWhere, name),
      pathInfo: str(raw, 'path_info', entryWhere, `${name}/`),
      category: str(raw, 'category', entryWhere, 'Notebook'),
      iconUrl: typeof iconUrl === 'string' && iconUrl ? iconUrl : null,
      rank: numOrNull(raw, 'rank', entryWhere)
    },
    newBrowserTab: bool(value, 'new_browser_tab', where, true),
    instances: bool(value, 'instances', where, false),
    parameters: parseParameters(value['parameters'], `${where}.parameters`)
  };
}

export interface IParsed<T> {
  items: T[];
  /** Entries that could not be used, each with the reason (shown to the user). */
  problems: string[];
}

/** The whole servers-info document. A bad entry is reported and skipped; the rest is kept. */
export function parseServersInfo(doc: Json): IParsed<IServerProcess> {
  if (!isObject(doc) || !Array.isArray(doc['server_processes'])) {
    throw new ValidationError(
      'servers-info should be an object with a server_processes list'
    );
  }
  const items: IServerProcess[] = [];
  const problems: string[] = [];
  // Apps the server left out (a bad spec, a broken plugin), so the user hears about them.
  const leftOut = Array.isArray(doc['problems']) ? doc['problems'] : [];
  for (const problem of leftOut) {
    if (isObject(problem) && typeof problem['message'] === 'string') {
      problems.push(problem['message']);
    }
  }
  doc['server_processes'].forEach((entry, index) => {
    try {
      items.push(parseServerProcess(entry, index));
    } catch (error) {
      if (!(error instanceof ValidationError)) {
        throw error;
      }
      problems.push(error.message);
    }
  });
  return { items, problems };
}

/** Join a base URL and a path with exactly one slash between. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** The arguments of `server-proxy:open` for an app, its URL under `baseUrl`. */
export function openArgs(baseUrl: string, process: IServerProcess): IOpenArgs {
  return {
    id: process.name,
    title: process.launcherEntry.title,
    url: joinUrl(baseUrl, process.launcherEntry.pathInfo),
    newBrowserTab: process.newBrowserTab,
    category: process.launcherEntry.category
  };
}

/** Launcher cards: one per enabled app, with the arguments of `server-proxy:open`. */
export function launcherItems(
  baseUrl: string,
  processes: IServerProcess[]
): IOpenArgs[] {
  return processes
    .filter(p => p.launcherEntry.enabled)
    .map(p => openArgs(baseUrl, p));
}

const STATES: ReadonlySet<string> = new Set([
  'stopped',
  'starting',
  'running',
  'exited',
  'failed'
]);

export function parseAppStatus(value: Json, where = 'server'): IAppStatus {
  if (!isObject(value)) {
    throw new ValidationError(`${where} should be an object`);
  }
  const state = str(value, 'state', where);
  if (!STATES.has(state)) {
    throw new ValidationError(
      `${where}.state ${JSON.stringify(state)} is not a known state`
    );
  }
  const name = str(value, 'name', where);
  const parameters = value['parameters'] ?? {};
  if (!isObject(parameters)) {
    throw new ValidationError(`${where}.parameters should be an object`);
  }
  const instance = value['instance'];
  if (
    instance !== undefined &&
    instance !== null &&
    typeof instance !== 'string'
  ) {
    throw new ValidationError(`${where}.instance should be a string or null`);
  }
  return {
    name,
    state: state as AppState,
    pid: numOrNull(value, 'pid', where),
    port: numOrNull(value, 'port', where),
    unixSocket: strOrNull(value, 'unix_socket', where),
    startedAt: strOrNull(value, 'started_at', where),
    exitCode: numOrNull(value, 'exit_code', where),
    url: str(value, 'url', where),
    app: str(value, 'app', where, splitName(name).app),
    instance:
      typeof instance === 'string' ? instance : splitName(name).instance,
    parameters,
    reason: strOrNull(value, 'reason', where),
    stoppedAt: strOrNull(value, 'stopped_at', where),
    idleTimeout: numOrNull(value, 'idle_timeout', where)
  };
}

export function parseServers(doc: Json): IAppStatus[] {
  if (!isObject(doc) || !Array.isArray(doc['servers'])) {
    throw new ValidationError(
      'the servers list should be an object with a servers list'
    );
  }
  return doc['servers'].map((s, i) => parseAppStatus(s, `servers[${i}]`));
}

export function parseLogs(doc: Json): string[] {
  if (!isObject(doc) || !Array.isArray(doc['lines'])) {
    throw new ValidationError('logs should be an object with a lines list');
  }
  return doc['lines'].map(line =>
    typeof line === 'string' ? line : JSON.stringify(line)
  );
}

export interface IFailure {
  message: string;
  exitCode: number | null;
  logTail: string[];
}

/** The JSON body of a 503 from the start endpoint (fields may be missing on other errors). */
export function parseFailure(doc: Json, fallback: string): IFailure {
  if (!isObject(doc)) {
    return { message: fallback, exitCode: null, logTail: [] };
  }
  const message =
    typeof doc['message'] === 'string' ? doc['message'] : fallback;
  const exitCode =
    typeof doc['exit_code'] === 'number' ? doc['exit_code'] : null;
  const tail = Array.isArray(doc['log_tail'])
    ? doc['log_tail'].filter((l): l is string => typeof l === 'string')
    : [];
  return { message, exitCode, logTail: tail };
}
