/**
 * The JupyterLab plugin: the commands, Lab tabs (restored from workspaces), the Running panel
 * section and the launcher. Also active in Notebook 7, where every app opens in a new tab.
 */

import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { IRunningSessionManagers } from '@jupyterlab/running';
import { launchIcon, listIcon, refreshIcon } from '@jupyterlab/ui-components';

import { AppCatalog } from './catalog';
import { ServerProxyClient } from './client';
import { CommandIDs } from './commands';
import { iconFor, loadIcon, NAMESPACE } from './icons';
import { addLauncherItems } from './launcher';
import { launcherItems } from './model';
import { openLabel, restoreArgs } from './open-args';
import { RunningApps } from './running';
import { AppFrame } from './widgets/app-frame';
import { LogView } from './widgets/log-view';
import { openInNewTab } from './widgets/starting-tab';

/** How often the Running panel asks for the apps' states while the page is visible, in ms. */
const RUNNING_REFRESH_INTERVAL = 5000;

function idOf(raw: Readonly<Record<string, unknown>>): string | null {
  return typeof raw['id'] === 'string' && raw['id'] ? raw['id'] : null;
}

export const labPlugin: JupyterFrontEndPlugin<void> = {
  id: '@jupyterhub/jupyter-server-proxy:plugin',
  description: 'Launcher cards and Running panel for jupyter-server-proxy apps',
  autoStart: true,
  optional: [
    ILauncher,
    ILayoutRestorer,
    ICommandPalette,
    IRunningSessionManagers,
    ILabShell,
    IMainMenu
  ],
  activate: (
    app: JupyterFrontEnd,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    runningManagers: IRunningSessionManagers | null,
    labShell: ILabShell | null,
    mainMenu: IMainMenu | null
  ) => {
    const client = new ServerProxyClient();
    const catalog = new AppCatalog(client);
    const tracker = new WidgetTracker<AppFrame>({ namespace: NAMESPACE });
    const logs = new WidgetTracker<LogView>({
      namespace: `${NAMESPACE}-log`
    });
    const running = new RunningApps(client, app.commands);
    const inLab = labShell !== null;

    const titleOf = (raw: Readonly<Record<string, unknown>>): string | null => {
      if (typeof raw['title'] === 'string') {
        return raw['title'];
      }
      const id = idOf(raw);
      return id ? (catalog.get(id)?.title ?? null) : null;
    };

    app.commands.addCommand(CommandIDs.open, {
      label: raw => {
        const title = titleOf(raw);
        if (title === null) {
          return 'Open server app';
        }
        const id = idOf(raw);
        const newBrowserTab =
          typeof raw['newBrowserTab'] === 'boolean'
            ? raw['newBrowserTab']
            : (catalog.get(id ?? '')?.newBrowserTab ?? true);
        return openLabel(title, newBrowserTab, inLab);
      },
      caption: raw => `Open ${titleOf(raw) ?? 'the app'}`,
      icon: raw => {
        const id = idOf(raw);
        return id ? iconFor(id) : launchIcon;
      },
      execute: async raw => {
        const args = await catalog.resolve(raw);
        if (!args) {
          return;
        }
        if (args.newBrowserTab || !labShell) {
          await openInNewTab(args, client);
          void running.refresh();
          return;
        }
        const existing = tracker.find(w => w.args.id === args.id);
        if (existing) {
          app.shell.activateById(existing.id);
          return existing;
        }
        const panel = new AppFrame(args, client);
        void tracker.add(panel);
        app.shell.add(panel, 'main');
        app.shell.activateById(panel.id);
        void running.refresh();
        void panel.started.then(() => running.refresh());
        return panel;
      }
    });

    app.commands.addCommand(CommandIDs.showLog, {
      label: 'Show App Log',
      icon: listIcon,
      execute: raw => {
        const id = idOf(raw);
        if (!id) {
          return;
        }
        const existing = logs.find(w => w.app === id);
        if (existing) {
          app.shell.activateById(existing.id);
          return existing;
        }
        const panel = new LogView(id, running.title(id), client);
        void logs.add(panel);
        app.shell.add(panel, 'main');
        app.shell.activateById(panel.id);
        return panel;
      }
    });

    app.commands.addCommand(CommandIDs.restart, {
      label: 'Restart App',
      icon: refreshIcon,
      execute: async raw => {
        const id = idOf(raw);
        if (!id) {
          return;
        }
        const panel = tracker.find(w => w.args.id === id);
        try {
          if (panel) {
            await panel.load(true);
          } else {
            await client.start(id, true);
          }
        } catch (error) {
          Notification.error(
            `${running.title(id)} did not restart: ${String(error)}`
          );
        }
        await running.refresh();
      }
    });

    app.commands.addCommand(CommandIDs.stop, {
      label: 'Stop App',
      execute: async raw => {
        const id = idOf(raw);
        if (!id) {
          return;
        }
        await client.stop(id);
        await running.refresh();
      }
    });

    app.contextMenu.addItem({
      command: CommandIDs.showLog,
      selector: '.jp-ServerProxy-runningItem',
      rank: 1
    });

    if (restorer) {
      // Only the app's id and title are stored: its URL is built from the server Lab talks
      // to when the tab is restored.
      void restorer.restore(tracker, {
        command: CommandIDs.open,
        args: widget => restoreArgs(widget.args),
        name: widget => widget.args.id
      });
    }
    if (runningManagers) {
      runningManagers.add(running);
      void running.refresh();
      window.setInterval(() => {
        if (document.visibilityState === 'visible') {
          void running.refresh();
        }
      }, RUNNING_REFRESH_INTERVAL);
    }

    void catalog.ready
      .then(async ({ items, problems }) => {
        for (const problem of problems) {
          Notification.warning(`jupyter-server-proxy: ${problem}`, {
            autoClose: false
          });
        }
        running.setTitles(items);
        await Promise.all(items.map(p => loadIcon(client, p)));
        const entries = launcherItems(client.settings.baseUrl, items);
        addLauncherItems(entries, items, launcher, palette, mainMenu);
        app.commands.notifyCommandChanged(CommandIDs.open);
      })
      .catch(error => {
        Notification.error(
          `jupyter-server-proxy: could not load the list of apps: ${String(error)}`
        );
      });
  }
};
