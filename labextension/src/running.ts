/**
 * The "Server apps" section of the Running panel. It keeps history: every app that ran since
 * the server started stays listed, running or not, with its state on a line of its own under
 * the title ("running", "exited (code 1)", "stopped after idle", "failed: crash loop"; pid,
 * port and times are in the tooltip), its log one click away, and Start or Restart. Stop is
 * offered while it runs. An app's instances are listed under it.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { IRunningSessions } from '@jupyterlab/running';
import {
  addIcon,
  listIcon,
  refreshIcon,
  runIcon
} from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';

import { ServerProxyClient } from './client';
import { CommandIDs } from './commands';
import { iconFor } from './icons';
import { IAppStatus, IServerProcess, ValidationError } from './model';
import {
  appGroups,
  endedBadly,
  IAppGroup,
  isLive,
  ran,
  stateText,
  statusTooltip
} from './status-text';

type Item = IRunningSessions.IRunningItem;

export class RunningApps implements IRunningSessions.IManager {
  readonly name = 'Server apps';
  readonly shutdownLabel = 'Stop';
  readonly shutdownAllLabel = 'Stop all';
  readonly shutdownAllConfirmationText =
    'Stop every app that jupyter-server-proxy started?';
  readonly supportsMultipleViews = true;
  readonly runningChanged = new Signal<this, void>(this);
  private statuses: IAppStatus[] = [];
  private processes = new Map<string, IServerProcess>();
  private key = '';

  constructor(
    private readonly client: ServerProxyClient,
    private readonly commands: JupyterFrontEnd['commands']
  ) {}

  setProcesses(processes: IServerProcess[]): void {
    this.processes = new Map(processes.map(p => [p.name, p]));
    this.runningChanged.emit();
  }

  /** An app's title, or an instance's ("TensorBoard (exp1)"). */
  title(name: string): string {
    const status = this.statuses.find(s => s.name === name);
    const app = status?.app ?? name.split('@')[0];
    const title = this.processes.get(app)?.launcherEntry.title ?? app;
    const instance = status?.instance ?? name.split('@')[1];
    return instance ? `${title} (${instance})` : title;
  }

  /** The state the server last reported for an app or instance. */
  status(name: string): IAppStatus | null {
    return this.statuses.find(s => s.name === name) ?? null;
  }

  /** Apps and instances that ran since the server started: those the panel lists. */
  visible(): IAppStatus[] {
    return this.statuses.filter(ran);
  }

  running(options: { mode: 'tree' | 'list' }): Item[] {
    const groups = appGroups(this.statuses);
    if (options.mode === 'list') {
      return groups.flatMap(g =>
        [g.main, ...g.instances]
          .filter((s): s is IAppStatus => s !== null && ran(s))
          .map(s => this.item(s, this.title(s.name), false))
      );
    }
    return groups.map(g => this.groupItem(g));
  }

  private groupItem(group: IAppGroup): Item {
    const main = group.main;
    const process = this.processes.get(group.app);
    const title = process?.launcherEntry.title ?? group.app;
    const item: Item =
      main && ran(main)
        ? this.item(main, title, true)
        : {
            icon: () => iconFor(group.app),
            label: () => title,
            detail: () => 'not started',
            className: 'jp-ServerProxy-runningItem jp-mod-stopped',
            open: () =>
              void this.commands.execute(CommandIDs.open, { id: group.app }),
            children: []
          };
    const children = item.children ?? [];
    children.push(
      ...group.instances.map(s => this.item(s, s.instance ?? s.name, true))
    );
    if (process?.instances) {
      children.push({
        icon: () => addIcon,
        label: () => 'New instance…',
        className: 'jp-ServerProxy-newInstance',
        open: () =>
          void this.commands.execute(CommandIDs.newInstance, {
            id: group.app
          })
      });
    }
    item.children = children;
    return item;
  }

  /** An app's or instance's item; in the tree, with Show log and Start/Restart under it. */
  private item(status: IAppStatus, label: string, tree: boolean): Item {
    const args = { id: status.name };
    const live = isLive(status);
    const item: Item = {
      icon: () => iconFor(status.app),
      label: () => label,
      labelTitle: () => statusTooltip(this.title(status.name), status),
      detail: () => stateText(status),
      className: `jp-ServerProxy-runningItem jp-mod-${status.state}${
        endedBadly(status) ? ' jp-mod-failure' : ''
      }`,
      context: `server-proxy:${status.name}`,
      open: () => void this.commands.execute(CommandIDs.open, args)
    };
    if (live) {
      item.shutdown = () => void this.commands.execute(CommandIDs.stop, args);
    }
    if (tree) {
      item.children = [
        {
          icon: () => listIcon,
          label: () => 'Show log',
          className: 'jp-ServerProxy-showLog',
          open: () => void this.commands.execute(CommandIDs.showLog, args)
        },
        live
          ? {
              icon: () => refreshIcon,
              label: () => 'Restart',
              className: 'jp-ServerProxy-restart',
              open: () => void this.commands.execute(CommandIDs.restart, args)
            }
          : {
              icon: () => runIcon,
              label: () => 'Start',
              className: 'jp-ServerProxy-start',
              open: () => void this.commands.execute(CommandIDs.start, args)
            }
      ];
    }
    return item;
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
    const live = this.statuses.filter(isLive);
    void Promise.all(live.map(s => this.client.stop(s.name))).then(() =>
      this.refresh()
    );
  }
}
