/**
 * Where JupyterLab lists the apps: launcher cards (in the app's category, with its icon and
 * rank), the command palette, and File > New.
 */

import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { IMainMenu } from '@jupyterlab/mainmenu';

import { CommandIDs } from './commands';
import { DEFAULT_ICON_URL } from './icons';
import { IOpenArgs, IServerProcess } from './model';

/** Unranked apps go after the built-in items, so each section keeps its own header icon. */
const DEFAULT_RANK = 100;

export function addLauncherItems(
  entries: IOpenArgs[],
  processes: IServerProcess[],
  launcher: ILauncher | null,
  palette: ICommandPalette | null,
  mainMenu: IMainMenu | null
): void {
  for (const args of entries) {
    const entry = processes.find(p => p.name === args.id)?.launcherEntry;
    launcher?.add({
      command: CommandIDs.open,
      args: { ...args },
      category: args.category,
      rank: entry?.rank ?? DEFAULT_RANK,
      // The Notebook and Console sections draw `kernelIconUrl` (or a letter), not the
      // command's icon, so those cards get the icon as a URL too.
      kernelIconUrl: entry?.iconUrl ?? DEFAULT_ICON_URL
    });
    palette?.addItem({
      command: CommandIDs.open,
      args: { ...args },
      category: 'Server Apps'
    });
  }
  // Apps that run more than once: "New Instance of <title>…" in the palette.
  for (const process of processes.filter(p => p.instances)) {
    palette?.addItem({
      command: CommandIDs.newInstance,
      args: { id: process.name },
      category: 'Server Apps'
    });
  }
  // File > New lists the apps too (in Notebook 7's tree, its menu bar's File > New).
  mainMenu?.fileMenu.newMenu.addGroup(
    entries.map(args => ({ command: CommandIDs.open, args: { ...args } })),
    30
  );
}
