/**
 * The server's API: servers-info, and the lifecycle endpoints (list, start, restart, stop,
 * logs). Every answer is validated by `model` before use, never cast.
 */

import { ServerConnection } from '@jupyterlab/services';

import {
  IAppStatus,
  IFailure,
  IParsed,
  IServerProcess,
  joinUrl,
  parseAppStatus,
  parseFailure,
  parseLogs,
  parseServers,
  parseServersInfo
} from './model';

/**
 * An app did not start; carries the server's reason (message, exit code, log tail) and the
 * HTTP status: 400 means the request was refused (a bad parameter) and nothing started.
 */
export class StartFailed extends Error {
  constructor(
    readonly app: string,
    readonly failure: IFailure,
    readonly status: number = 503
  ) {
    super(failure.message);
  }

  get refused(): boolean {
    return this.status === 400;
  }
}

export class ServerProxyClient {
  constructor(
    readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  /** A URL under the server's base URL (the server Lab talks to now). */
  url(...parts: string[]): string {
    return parts.reduce((acc, p) => joinUrl(acc, p), this.settings.baseUrl);
  }

  async serversInfo(): Promise<IParsed<IServerProcess>> {
    const response = await this.request('server-proxy/servers-info');
    if (!response.ok) {
      throw new Error(`servers-info answered ${response.status}`);
    }
    return parseServersInfo(await response.json());
  }

  async servers(): Promise<IAppStatus[]> {
    const response = await this.request('server-proxy/api/servers/');
    if (!response.ok) {
      throw new Error(`the servers list answered ${response.status}`);
    }
    return parseServers(await response.json());
  }

  /** One app's (or instance's) state; throws when the server does not know it. */
  async status(name: string): Promise<IAppStatus> {
    const response = await this.request(this.appPath(name));
    if (!response.ok) {
      throw new Error(`${name} answered ${response.status}`);
    }
    return parseAppStatus(await response.json());
  }

  /**
   * Start (or restart) an app or instance (`tb@exp1`) and wait until it is ready; with
   * `parameters`, the run's launch parameters. Throws `StartFailed`.
   */
  async start(
    name: string,
    restart = false,
    parameters?: Readonly<Record<string, unknown>>
  ): Promise<IAppStatus> {
    const path = `${this.appPath(name)}${restart ? '/restart' : ''}`;
    const init: RequestInit = { method: 'POST' };
    if (parameters !== undefined) {
      init.body = JSON.stringify({ parameters });
      init.headers = { 'Content-Type': 'application/json' };
    }
    const response = await this.request(path, init);
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      throw new StartFailed(
        name,
        parseFailure(body, `${name}: HTTP ${response.status}`),
        response.status
      );
    }
    return parseAppStatus(body);
  }

  async stop(name: string): Promise<void> {
    const response = await this.request(this.appPath(name), {
      method: 'DELETE'
    });
    if (!response.ok) {
      throw new Error(`stopping ${name} answered ${response.status}`);
    }
  }

  async logs(name: string): Promise<string[]> {
    const response = await this.request(`${this.appPath(name)}/logs`);
    if (!response.ok) {
      throw new Error(`the log of ${name} answered ${response.status}`);
    }
    return parseLogs(await response.json());
  }

  /** GET an absolute URL (an app's icon) with the server's credentials. */
  async fetch(absoluteUrl: string): Promise<Response> {
    return ServerConnection.makeRequest(absoluteUrl, {}, this.settings);
  }

  /** `@` stays as it is: the instance form `<name>@<instance>` is the contract's path. */
  private appPath(name: string): string {
    return `server-proxy/api/servers/${encodeURIComponent(name).replace(/%40/g, '@')}`;
  }

  private async request(
    path: string,
    init: RequestInit = {}
  ): Promise<Response> {
    return ServerConnection.makeRequest(this.url(path), init, this.settings);
  }
}
