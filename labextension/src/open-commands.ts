/**
 * Opening apps: `server-proxy:open` (4.x's command: a launcher card, the palette, menus,
 * restored tabs) and `server-proxy:new-instance`. An app opens in a Lab tab or a new browser
 * tab; an app with launch parameters asks for them first (`launch`), unless its default
 * instance is already up or the tab is being restored from a workspace.
 */

import { launchIcon } from '@jupyterlab/ui-components';

import { CommandIDs } from './commands';
import { IExtensionContext, idOf } from './context';
import { iconFor } from './icons';
import { launch } from './launch';
import { IOpenArgs } from './model';
import { freeInstanceName, splitName } from './names';
import { openLabel, RESTORED } from './open-args';
import { isLive } from './status-text';
import { AppFrame } from './widgets/app-frame';
import { openInNewTab } from './widgets/starting-tab';

export function addOpenCommands(ctx: IExtensionContext): void {
  const { app, client, catalog, frames, running, inLab } = ctx;

  const titleOf = (raw: Readonly<Record<string, unknown>>): string | null => {
    if (typeof raw['title'] === 'string') {
      return raw['title'];
    }
    const id = idOf(raw);
    return id ? (catalog.get(id)?.title ?? null) : null;
  };

  /** Open in a Lab tab or a browser tab; `start` replaces the plain start (a launch's). */
  const openApp = async (
    args: IOpenArgs,
    start?: () => Promise<unknown>
  ): Promise<AppFrame | undefined> => {
    if (args.newBrowserTab || !inLab) {
      await openInNewTab(args, client, start);
      void running.refresh();
      return;
    }
    const existing = frames.find(w => w.args.id === args.id);
    if (existing) {
      app.shell.activateById(existing.id);
      return existing;
    }
    const panel = new AppFrame(args, client, start);
    void frames.add(panel);
    app.shell.add(panel, 'main');
    app.shell.activateById(panel.id);
    void running.refresh();
    const started = panel.started.finally(() => running.refresh());
    if (start) {
      await started; // a refused launch rejects: the dialog asks again
    } else {
      started.catch(() => undefined);
    }
    return panel;
  };

  app.commands.addCommand(CommandIDs.open, {
    label: raw => {
      const title = titleOf(raw);
      if (title === null) {
        return 'Open server app';
      }
      const newBrowserTab =
        typeof raw['newBrowserTab'] === 'boolean'
          ? raw['newBrowserTab']
          : (catalog.get(idOf(raw) ?? '')?.newBrowserTab ?? true);
      return openLabel(title, newBrowserTab, inLab);
    },
    caption: raw => `Open ${titleOf(raw) ?? 'the app'}`,
    icon: raw => {
      const id = idOf(raw);
      return id ? iconFor(splitName(id).app) : launchIcon;
    },
    execute: async raw => {
      const args = await catalog.resolve(raw);
      if (!args) {
        return;
      }
      const process = catalog.process(args.id);
      const asks =
        process?.parameters &&
        splitName(args.id).instance === null &&
        raw[RESTORED] !== true &&
        !frames.find(w => w.args.id === args.id);
      if (asks) {
        const up = await client.status(args.id).then(isLive, () => false);
        if (!up) {
          await launch({ process, args, instance: null }, client, openApp);
          return;
        }
      }
      return openApp(args);
    }
  });

  app.commands.addCommand(CommandIDs.newInstance, {
    label: raw => {
      const title = titleOf(raw);
      return title ? `New Instance of ${title}…` : 'New Instance…';
    },
    caption: raw => `Start another ${titleOf(raw) ?? 'app'} beside the first`,
    icon: raw => {
      const id = idOf(raw);
      return id ? iconFor(splitName(id).app) : launchIcon;
    },
    isEnabled: raw => catalog.process(idOf(raw) ?? '')?.instances ?? true,
    execute: async raw => {
      const id = idOf(raw);
      if (!id) {
        return;
      }
      await catalog.ready.catch(() => undefined);
      const process = catalog.process(id);
      const args = catalog.get(splitName(id).app);
      if (!process?.instances || !args) {
        return;
      }
      await running.refresh();
      const taken = running
        .visible()
        .filter(s => s.app === process.name && s.instance !== null)
        .map(s => s.instance as string);
      await launch(
        { process, args, instance: freeInstanceName(taken) },
        client,
        openApp
      );
    }
  });
}
