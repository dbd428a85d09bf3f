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

/** An app did not start; carries the server's reason (message, exit code, log tail). */
export class StartFailed extends Error {
  constructor(
    readonly app: string,
    readonly failure: IFailure
  ) {
    super(failure.message);
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

  /** Start (or restart) an app and wait until it is ready; throws `StartFailed`. */
  async start(name: string, restart = false): Promise<IAppStatus> {
    const path = `${this.appPath(name)}${restart ? '/restart' : ''}`;
    const response = await this.request(path, { method: 'POST' });
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      throw new StartFailed(
        name,
        parseFailure(body, `${name}: HTTP ${response.status}`)
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

  private appPath(name: string): string {
    return `server-proxy/api/servers/${encodeURIComponent(name)}`;
  }

  private async request(
    path: string,
    init: RequestInit = {}
  ): Promise<Response> {
    return ServerConnection.makeRequest(this.url(path), init, this.settings);
  }
}
