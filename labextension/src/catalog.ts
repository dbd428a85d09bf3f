/**
 * The apps the server lists now, fetched once in the background (Lab's start does not wait
 * for the server), and the resolution of `server-proxy:open`'s arguments against them.
 */

import { ServerProxyClient } from './client';
import { IOpenArgs, IParsed, IServerProcess, openArgs } from './model';
import { splitName } from './names';
import { resolveOpenArgs } from './open-args';

export class AppCatalog {
  /** servers-info, validated; rejects when the server cannot be asked. */
  readonly ready: Promise<IParsed<IServerProcess>>;
  private readonly apps = new Map<string, IOpenArgs>();
  private readonly processes = new Map<string, IServerProcess>();
  private readonly baseUrl: string;

  constructor(client: ServerProxyClient) {
    this.baseUrl = client.settings.baseUrl;
    this.ready = client.serversInfo().then(parsed => {
      for (const process of parsed.items) {
        this.apps.set(process.name, openArgs(client.settings.baseUrl, process));
        this.processes.set(process.name, process);
      }
      return parsed;
    });
  }

  /**
   * The app to open for a command's arguments. A tab restored from a workspace asks before
   * servers-info has answered: wait for it, so its URL is built from this server.
   */
  async resolve(
    raw: Readonly<Record<string, unknown>>
  ): Promise<IOpenArgs | null> {
    const id = raw['id'];
    if (typeof id === 'string' && !this.apps.has(id)) {
      await this.ready.catch(() => undefined);
    }
    return resolveOpenArgs(raw, this.apps, window.location.href, this.baseUrl);
  }

  /** The args of a known app or instance, or null (synchronous: for labels). */
  get(id: string): IOpenArgs | null {
    return resolveOpenArgs(
      { id },
      this.apps,
      window.location.href,
      this.baseUrl
    );
  }

  /** The app (spec) an app or instance name belongs to, or null. */
  process(name: string): IServerProcess | null {
    return this.processes.get(splitName(name).app) ?? null;
  }
}
