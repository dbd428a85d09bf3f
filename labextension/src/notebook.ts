/**
 * Notebook 7's tree view: its file browser toolbar has a "New" dropdown, a toolbar item named
 * `new-dropdown` that Notebook registers in the toolbar widget registry. No token exposes the
 * menu itself, but the registry's factory hands out a menu bar holding that one shared menu:
 * ask the registry for it (now, or when Notebook registers its factory) and add the apps.
 * Notebook clears and refills that menu when kernel specs change, so add them again then.
 */

import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { Menu, MenuBar, Widget } from '@lumino/widgets';

import { ServerProxyClient } from './client';
import { CommandIDs } from './commands';
import { IOpenArgs, launcherItems } from './model';

/** The toolbar factory name of the file browser, and Notebook's item in it. */
const FILE_BROWSER_FACTORY = 'FileBrowser';
const NEW_DROPDOWN = 'new-dropdown';

/** The "New" menu, if the registry's `new-dropdown` item is Notebook's menu bar. */
function newMenuOf(
  registry: IToolbarWidgetRegistry,
  browser: Widget
): Menu | null {
  const widget = registry.createWidget(FILE_BROWSER_FACTORY, browser, {
    name: NEW_DROPDOWN
  });
  const menu =
    widget instanceof MenuBar && widget.menus.length ? widget.menus[0] : null;
  if (widget instanceof MenuBar) {
    // The menu is shared with the toolbar's own menu bar: detach it before disposing ours.
    widget.clearMenus();
  }
  widget.dispose();
  return menu;
}

function addApps(menu: Menu, entries: IOpenArgs[]): void {
  if (menu.items.some(i => i.command === CommandIDs.open)) {
    return;
  }
  menu.addItem({ type: 'separator' });
  for (const args of entries) {
    menu.addItem({
      command: CommandIDs.open,
      args: { ...args, newBrowserTab: true }
    });
  }
}

export const notebookNewMenu: JupyterFrontEndPlugin<void> = {
  id: '@jupyterhub/jupyter-server-proxy:tree-new-menu',
  description: "Lists jupyter-server-proxy's apps in Notebook 7's New menu",
  autoStart: true,
  optional: [IToolbarWidgetRegistry, IDefaultFileBrowser, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    registry: IToolbarWidgetRegistry | null,
    browser: IDefaultFileBrowser | null,
    labShell: ILabShell | null
  ) => {
    if (!registry || !browser || labShell) {
      return; // JupyterLab has the launcher and File > New
    }
    const client = new ServerProxyClient();
    void client.serversInfo().then(({ items }) => {
      const entries = launcherItems(client.settings.baseUrl, items);
      if (!entries.length) {
        return;
      }
      let menu: Menu | null = null;
      const attach = () => {
        if (menu) {
          return;
        }
        menu = newMenuOf(registry, browser);
        if (menu) {
          const found = menu;
          addApps(found, entries);
          app.serviceManager.kernelspecs.specsChanged.connect(() =>
            addApps(found, entries)
          );
        }
      };
      registry.factoryAdded.connect((_, name) => {
        if (name === NEW_DROPDOWN) {
          attach();
        }
      });
      attach();
    });
  }
};
