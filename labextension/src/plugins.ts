/**
 * The JupyterLab plugin: wires the commands (`open-commands`, `app-commands`), Lab tabs
 * (restored from workspaces), the Running panel section and the launcher. Also active in
 * Notebook 7, where every app opens in a new tab.
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

import { addAppCommands } from './app-commands';
import { AppCatalog } from './catalog';
import { ServerProxyClient } from './client';
import { CommandIDs } from './commands';
import { IExtensionContext } from './context';
import { loadIcon, NAMESPACE } from './icons';
import { addLauncherItems } from './launcher';
import { launcherItems } from './model';
import { addOpenCommands } from './open-commands';
import { restoreArgs } from './open-args';
import { RunningApps } from './running';
import { AppFrame } from './widgets/app-frame';
import { LogView } from './widgets/log-view';

/** How often the Running panel asks for the apps' states while the page is visible, in ms. */
const RUNNING_REFRESH_INTERVAL = 5000;

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
    const ctx: IExtensionContext = {
      app,
      client,
      catalog: new AppCatalog(client),
      frames: new WidgetTracker<AppFrame>({ namespace: NAMESPACE }),
      logs: new WidgetTracker<LogView>({ namespace: `${NAMESPACE}-log` }),
      running: new RunningApps(client, app.commands),
      inLab: labShell !== null
    };
    const { catalog, frames, running } = ctx;
    addOpenCommands(ctx);
    addAppCommands(ctx);

    if (restorer) {
      // Only the app's (or instance's) name and title are stored: its URL is built from the
      // server Lab talks to when the tab is restored.
      void restorer.restore(frames, {
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
        running.setProcesses(items);
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
