/**
 * The "Server apps" section of the Running panel: each app the server started, with its state
 * as a short badge next to the title (readable at the panel's default width; pid, port and
 * socket are in the tooltip), Open, Stop, Restart and its log.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { IRunningSessions } from '@jupyterlab/running';
import { listIcon, refreshIcon } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';

import { ServerProxyClient } from './client';
import { CommandIDs } from './commands';
import { iconFor } from './icons';
import {
  IAppStatus,
  IServerProcess,
  stateBadge,
  statusTooltip,
  ValidationError
} from './model';

export class RunningApps implements IRunningSessions.IManager {
  readonly name = 'Server apps';
  readonly shutdownLabel = 'Stop';
  readonly shutdownAllLabel = 'Stop all';
  readonly shutdownAllConfirmationText =
    'Stop every app that jupyter-server-proxy started?';
  readonly supportsMultipleViews = true;
  readonly runningChanged = new Signal<this, void>(this);
  private statuses: IAppStatus[] = [];
  private titles = new Map<string, string>();
  private key = '';

  constructor(
    private readonly client: ServerProxyClient,
    private readonly commands: JupyterFrontEnd['commands']
  ) {}

  setTitles(processes: IServerProcess[]): void {
    this.titles = new Map(processes.map(p => [p.name, p.launcherEntry.title]));
  }

  title(name: string): string {
    return this.titles.get(name) ?? name;
  }

  /** Apps the server started (and those that ended: their exit code stays visible). */
  visible(): IAppStatus[] {
    return this.statuses.filter(s => s.state !== 'stopped');
  }

  running(options: { mode: 'tree' | 'list' }): IRunningSessions.IRunningItem[] {
    return this.visible().map(status => {
      const args = { id: status.name };
      const item: IRunningSessions.IRunningItem = {
        icon: () => iconFor(status.name),
        label: () => this.title(status.name),
        labelTitle: () => statusTooltip(this.title(status.name), status),
        detail: () => stateBadge(status),
        className: `jp-ServerProxy-runningItem jp-mod-${status.state}`,
        context: `server-proxy:${status.name}`,
        open: () =>
          void this.commands.execute(CommandIDs.open, { id: status.name }),
        shutdown: () => void this.commands.execute(CommandIDs.stop, args)
      };
      if (options.mode === 'tree') {
        item.children = [
          {
            icon: () => listIcon,
            label: () => 'Show log',
            className: 'jp-ServerProxy-showLog',
            open: () => void this.commands.execute(CommandIDs.showLog, args)
          },
          {
            icon: () => refreshIcon,
            label: () => 'Restart',
            className: 'jp-ServerProxy-restart',
            open: () => void this.commands.execute(CommandIDs.restart, args)
          }
        ];
      }
      return item;
    });
  }

  refreshRunning(): void {
    void this.refresh();
  }

  async refresh(): Promise<void> {
    try {
      this.statuses = await this.client.servers();
    } catch (error) {
      if (error instanceof ValidationError) {
        console.warn('jupyter-server-proxy:', error.message);
      }
      return;
    }
    const key = JSON.stringify(this.visible());
    if (key !== this.key) {
      this.key = key;
      this.runningChanged.emit();
    }
  }

  shutdownAll(): void {
    void Promise.all(this.visible().map(s => this.client.stop(s.name))).then(
      () => this.refresh()
    );
  }
}
