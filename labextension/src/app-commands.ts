/** What the Running panel does with an app or instance: Show log, Start, Restart, Stop. */

import { Notification } from '@jupyterlab/apputils';
import { listIcon, refreshIcon, runIcon } from '@jupyterlab/ui-components';

import { CommandIDs } from './commands';
import { IExtensionContext, idOf } from './context';
import { LogView } from './widgets/log-view';

export function addAppCommands(ctx: IExtensionContext): void {
  const { app, client, frames, logs, running } = ctx;

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

  /** Start (or restart) it: in its Lab tab if it has one, else through the API. */
  const start = async (id: string, restart: boolean): Promise<void> => {
    const panel = frames.find(w => w.args.id === id);
    // A stopped instance starts again with the values its last run had.
    const last = running.status(id)?.parameters ?? {};
    const parameters = Object.keys(last).length ? last : undefined;
    try {
      if (panel) {
        await panel.load(restart);
      } else {
        await client.start(id, restart, restart ? undefined : parameters);
      }
    } catch (error) {
      Notification.error(
        `${running.title(id)} did not ${restart ? 'restart' : 'start'}: ${String(error)}`
      );
    }
    await running.refresh();
  };

  app.commands.addCommand(CommandIDs.start, {
    label: 'Start App',
    icon: runIcon,
    execute: async raw => {
      const id = idOf(raw);
      if (id) {
        await start(id, false);
      }
    }
  });

  app.commands.addCommand(CommandIDs.restart, {
    label: 'Restart App',
    icon: refreshIcon,
    execute: async raw => {
      const id = idOf(raw);
      if (id) {
        await start(id, true);
      }
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
}
