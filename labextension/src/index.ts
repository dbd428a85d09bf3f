/**
 * JupyterLab (and Notebook 7) frontend of jupyter-server-proxy.
 *
 * - Launcher cards, one per enabled app, through the command `server-proxy:open` (the peer's
 *   command id and arguments). Each card gets its own icon: JupyterLab draws `kernelIconUrl`
 *   only for the Notebook and Console sections, so the command's `icon` is per-app.
 * - Apps open in a new browser tab or in a Lab tab (an iframe) that first shows "starting…"
 *   while the server starts the app, and the failure (exit code, log tail) if it cannot.
 * - A "Server apps" section in the Running panel: state, open, stop, restart and the app's log.
 *
 * Nothing waits for the server at activation: servers-info is fetched in the background.
 */

import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IFrame,
  MainAreaWidget,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { IRunningSessionManagers, IRunningSessions } from '@jupyterlab/running';
import { ServerConnection } from '@jupyterlab/services';
import { LabIcon, launchIcon, listIcon, refreshIcon } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';
import { Menu, MenuBar, Panel, Widget } from '@lumino/widgets';

import {
  IAppStatus,
  IOpenArgs,
  IServerProcess,
  joinUrl,
  launcherItems,
  parseAppStatus,
  parseFailure,
  parseLogs,
  parseServers,
  parseServersInfo,
  statusLabel,
  ValidationError
} from './model';

const PLUGIN_ID = '@jupyterhub/jupyter-server-proxy:plugin';
const NAMESPACE = 'server-proxy';

namespace CommandIDs {
  export const open = 'server-proxy:open';
  export const showLog = 'server-proxy:show-log';
  export const restart = 'server-proxy:restart';
  export const stop = 'server-proxy:stop';
}

// A window with "</>": reads as "a web app" in any launcher section. Plain colours (no jp-icon
// classes), because theme classes would fill the outline shapes.
const DEFAULT_ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24">
<rect x="2" y="3" width="20" height="18" rx="2" style="fill:#ffffff;stroke:#616161;stroke-width:1.6"/>
<path d="M2 8h20" style="fill:none;stroke:#616161;stroke-width:1.6"/>
<circle cx="5" cy="5.5" r="0.9" style="fill:#616161"/><circle cx="8" cy="5.5" r="0.9" style="fill:#616161"/>
<path d="M8 12.5l-3 2.5 3 2.5M16 12.5l3 2.5-3 2.5M13.5 11.5l-3 7" style="fill:none;stroke:#2f7ed8;stroke-width:1.6;stroke-linecap:round"/>
</svg>`;

const DEFAULT_ICON_URL = `data:image/svg+xml;base64,${btoa(DEFAULT_ICON_SVG)}`;
const defaultAppIcon = new LabIcon({ name: `${NAMESPACE}:default`, svgstr: DEFAULT_ICON_SVG });

/** Talks to the server; every response is validated before use. */
class ServerProxyClient {
  readonly settings = ServerConnection.makeSettings();

  url(...parts: string[]): string {
    return parts.reduce((acc, p) => joinUrl(acc, p), this.settings.baseUrl);
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    return ServerConnection.makeRequest(this.url(path), init, this.settings);
  }

  async serversInfo(): Promise<{ items: IServerProcess[]; problems: string[] }> {
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
    const path = `server-proxy/api/servers/${encodeURIComponent(name)}${restart ? '/restart' : ''}`;
    const response = await this.request(path, { method: 'POST' });
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      throw new StartFailed(name, parseFailure(body, `${name}: HTTP ${response.status}`));
    }
    return parseAppStatus(body);
  }

  async stop(name: string): Promise<void> {
    const path = `server-proxy/api/servers/${encodeURIComponent(name)}`;
    const response = await this.request(path, { method: 'DELETE' });
    if (!response.ok) {
      throw new Error(`stopping ${name} answered ${response.status}`);
    }
  }

  async logs(name: string): Promise<string[]> {
    const path = `server-proxy/api/servers/${encodeURIComponent(name)}/logs`;
    const response = await this.request(path);
    if (!response.ok) {
      throw new Error(`the log of ${name} answered ${response.status}`);
    }
    return parseLogs(await response.json());
  }
}

class StartFailed extends Error {
  constructor(
    readonly app: string,
    readonly failure: ReturnType<typeof parseFailure>
  ) {
    super(failure.message);
  }
}

/**
 * A Lab tab for an app: shows "starting…", asks the server to start the app, then loads it in an
 * iframe; if the app cannot start, shows why (message, exit code, log tail).
 */
class AppPanel extends MainAreaWidget<Panel> {
  readonly frame: IFrame;
  private readonly status: HTMLDivElement;

  constructor(
    readonly args: IOpenArgs,
    private readonly client: ServerProxyClient
  ) {
    const content = new Panel();
    content.addClass('jp-ServerProxy-app');
    super({ content });
    this.id = `${NAMESPACE}-${args.id}`;
    this.title.label = args.title;
    this.title.closable = true;
    this.title.icon = iconFor(args.id);
    const statusWidget = new Widget();
    this.status = document.createElement('div');
    this.status.className = 'jp-ServerProxy-status';
    statusWidget.node.appendChild(this.status);
    content.addWidget(statusWidget);
    this.frame = new IFrame({
      sandbox: [
        'allow-same-origin',
        'allow-scripts',
        'allow-forms',
        'allow-popups',
        
        'allow-modals',
        'allow-downloads'
      ]
    });
    this.frame.addClass('jp-ServerProxy-frame');
    this.frame.hide();
    content.addWidget(this.frame);
    void this.load();
  }

  /** (Re)load: start the app through the API, then point the iframe at it. */
  async load(restart = false): Promise<void> {
    this.frame.hide();
    this.status.hidden = false;
    this.status.replaceChildren(text('p', `Starting ${this.args.title}…`));
    try {
      await this.client.start(this.args.id, restart);
    } catch (error) {
      this.showFailure(error);
      return;
    }
    this.status.hidden = true;
    this.frame.url = this.args.url;
    this.frame.show();
  }

  private showFailure(error: unknown): void {
    const parts: HTMLElement[] = [text('h2', `${this.args.title} could not start`)];
    if (error instanceof StartFailed) {
      parts.push(text('p', error.failure.message));
      if (error.failure.exitCode !== null) {
        parts.push(text('p', `Exit code: ${error.failure.exitCode}`));
      }
      if (error.failure.logTail.length) {
        parts.push(text('p', 'Last lines of its log:'));
        parts.push(text('pre', error.failure.logTail.join('\n')));
      }
    } else {
      parts.push(text('p', String(error)));
    }
    const retry = document.createElement('button');
    retry.className = 'jp-mod-styled jp-mod-accept';
    retry.textContent = 'Try again';
    retry.onclick = () => void this.load();
    parts.push(retry);
    this.status.className = 'jp-ServerProxy-status jp-mod-failed';
    this.status.replaceChildren(...parts);
  }
}

/**
 * Open an app in a new browser tab that says "Starting …" while the server starts it, and shows
 * why if it cannot. The tab is opened at once (inside the click, so no popup blocker objects),
 * loses its `opener` before it navigates, and only then goes to the app.
 */
async function openInNewTab(args: IOpenArgs, client: ServerProxyClient): Promise<void> {
  const tab = window.open('', '_blank');
  if (!tab) {
    window.open(args.url, '_blank', 'noopener');
    return;
  }
  tab.opener = null;
  const doc = tab.document;
  doc.title = `Starting ${args.title}…`;
  const heading = doc.createElement('p');
  heading.textContent = `Starting ${args.title}…`;
  heading.style.fontFamily = 'system-ui, sans-serif';
  doc.body.replaceChildren(heading);
  try {
    await client.start(args.id);
  } catch (error) {
    heading.textContent = `${args.title} could not start`;
    const parts: HTMLElement[] = [heading];
    const add = (tag: string, content: string) => {
      const node = doc.createElement(tag);
      node.textContent = content;
      parts.push(node);
    };
    if (error instanceof StartFailed) {
      add('p', error.failure.message);
      if (error.failure.exitCode !== null) {
        add('p', `Exit code: ${error.failure.exitCode}`);
      }
      if (error.failure.logTail.length) {
        add('pre', error.failure.logTail.join('\n'));
      }
    } else {
      add('p', String(error));
    }
    doc.body.replaceChildren(...parts);
    return;
  }
  tab.location.href = new URL(args.url, window.location.href).href;
}

/** A Lab tab with the tail of an app's log, refreshed while it is open. */
class LogPanel extends MainAreaWidget<Widget> {
  private timer: number | null = null;
  private readonly pre: HTMLPreElement;

  constructor(
    readonly app: string,
    title: string,
    private readonly client: ServerProxyClient
  ) {
    const content = new Widget();
    content.addClass('jp-ServerProxy-log');
    super({ content });
    this.id = `${NAMESPACE}-log-${app}`;
    this.title.label = `Log: ${title}`;
    this.title.closable = true;
    this.title.icon = listIcon;
    this.pre = document.createElement('pre');
    content.node.appendChild(this.pre);
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), 2000);
  }

  async refresh(): Promise<void> {
    try {
      const lines = await this.client.logs(this.app);
      this.pre.textContent = lines.length ? lines.join('\n') : '(no output yet)';
    } catch (error) {
      this.pre.textContent = String(error);
    }
  }

  dispose(): void {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
    super.dispose();
  }
}

function text<K extends keyof HTMLElementTagNameMap>(tag: K, content: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.textContent = content;
  return node;
}

const icons = new Map<string, LabIcon>();

function iconFor(name: string): LabIcon {
  return icons.get(name) ?? defaultAppIcon;
}

/** Fetch an app's icon and make it a LabIcon; SVG is inlined, other images are wrapped. */
async function loadIcon(client: ServerProxyClient, process: IServerProcess): Promise<void> {
  const url = process.launcherEntry.iconUrl;
  if (!url) {
    return;
  }
  try {
    // servers-info gives a path; makeRequest wants the absolute URL under the server's base.
    const absolute = new URL(url, window.location.href).href;
    const response = await ServerConnection.makeRequest(absolute, {}, client.settings);
    if (!response.ok) {
      return;
    }
    const type = response.headers.get('Content-Type') ?? '';
    let svgstr: string;
    if (type.includes('svg')) {
      svgstr = await response.text();
    } else {
      const blob = await response.blob();
      const dataUrl = await new Promise<string>((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(String(reader.result));
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(blob);
      });
      svgstr = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 24 24" width="24" height="24"><image width="24" height="24" href="${dataUrl}"/></svg>`;
    }
    icons.set(process.name, new LabIcon({ name: `${NAMESPACE}:${process.name}`, svgstr }));
  } catch (error) {
    console.warn(`jupyter-server-proxy: icon of ${process.name} not loaded`, error);
  }
}

/** The "Server apps" section of the Running panel. */
class RunningApps implements IRunningSessions.IManager {
  readonly name = 'Server apps';
  readonly shutdownLabel = 'Stop';
  readonly shutdownAllLabel = 'Stop all';
  readonly shutdownAllConfirmationText = 'Stop every app that jupyter-server-proxy started?';
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
        label: () => statusLabel(this.title(status.name), status),
        labelTitle: () =>
          `${this.title(status.name)}: ${status.state}` +
          (status.pid !== null ? `, pid ${status.pid}` : '') +
          (status.port !== null ? `, port ${status.port}` : '') +
          (status.unixSocket ? `, socket ${status.unixSocket}` : ''),
        detail: () => (status.pid !== null ? `pid ${status.pid}` : ''),
        className: 'jp-ServerProxy-runningItem',
        context: `server-proxy:${status.name}`,
        open: () => void this.commands.execute(CommandIDs.open, { id: status.name }),
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
    void Promise.all(this.visible().map(s => this.client.stop(s.name))).then(() => this.refresh());
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
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
    const tracker = new WidgetTracker<AppPanel>({ namespace: NAMESPACE });
    const logs = new WidgetTracker<LogPanel>({ namespace: `${NAMESPACE}-log` });
    const known = new Map<string, IOpenArgs>();
    const running = new RunningApps(client, app.commands);
    const baseUrl = PageConfig.getBaseUrl();

    const argsOf = (raw: Record<string, unknown>): IOpenArgs | null => {
      const id = typeof raw['id'] === 'string' ? raw['id'] : null;
      const fromServer = id ? known.get(id) : undefined;
      const url = typeof raw['url'] === 'string' ? raw['url'] : fromServer?.url;
      if (!id || !url) {
        return null;
      }
      return {
        id,
        url,
        title: typeof raw['title'] === 'string' ? raw['title'] : fromServer?.title ?? id,
        newBrowserTab:
          typeof raw['newBrowserTab'] === 'boolean'
            ? raw['newBrowserTab']
            : fromServer?.newBrowserTab ?? true,
        category: fromServer?.category ?? 'Notebook'
      };
    };

    app.commands.addCommand(CommandIDs.open, {
      label: args => (typeof args['title'] === 'string' ? args['title'] : 'Open server app'),
      caption: args => `Open ${typeof args['title'] === 'string' ? args['title'] : 'the app'}`,
      icon: args => (typeof args['id'] === 'string' ? iconFor(args['id']) : launchIcon),
      execute: async raw => {
        const args = argsOf(raw as Record<string, unknown>);
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
        const panel = new AppPanel(args, client);
        void tracker.add(panel);
        app.shell.add(panel, 'main');
        app.shell.activateById(panel.id);
        window.setTimeout(() => void running.refresh(), 500);
        return panel;
      }
    });

    app.commands.addCommand(CommandIDs.showLog, {
      label: 'Show App Log',
      icon: listIcon,
      execute: raw => {
        const id = typeof raw['id'] === 'string' ? raw['id'] : null;
        if (!id) {
          return;
        }
        const existing = logs.find(w => w.app === id);
        if (existing) {
          app.shell.activateById(existing.id);
          return existing;
        }
        const panel = new LogPanel(id, running.title(id), client);
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
        const id = typeof raw['id'] === 'string' ? raw['id'] : null;
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
          Notification.error(`${running.title(id)} did not restart: ${String(error)}`);
        }
        await running.refresh();
      }
    });

    app.commands.addCommand(CommandIDs.stop, {
      label: 'Stop App',
      execute: async raw => {
        const id = typeof raw['id'] === 'string' ? raw['id'] : null;
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
      void restorer.restore(tracker, {
        command: CommandIDs.open,
        args: widget => ({ ...widget.args }),
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
      }, 5000);
    }

    // In the background: Lab's start does not wait for the server.
    void client
      .serversInfo()
      .then(async ({ items, problems }) => {
        for (const problem of problems) {
          Notification.warning(`jupyter-server-proxy: ${problem}`, { autoClose: false });
        }
        running.setTitles(items);
        await Promise.all(items.map(p => loadIcon(client, p)));
        for (const args of launcherItems(baseUrl, items)) {
          known.set(args.id, args);
          // The Notebook and Console sections draw `kernelIconUrl` (or a letter), not the
          // command's icon, so those cards get the icon as a URL too.
          const entry = items.find(p => p.name === args.id)?.launcherEntry;
          const iconUrl = entry?.iconUrl;
          launcher?.add({
            command: CommandIDs.open,
            args: { ...args },
            category: args.category,
            // The app's own rank; unranked apps go after the built-in items, so each section
            // keeps its own header icon.
            rank: entry?.rank ?? 100,
            kernelIconUrl: iconUrl ?? DEFAULT_ICON_URL
          });
          palette?.addItem({
            command: CommandIDs.open,
            args: { ...args },
            category: 'Server Apps'
          });
        }
        // File > New lists the apps too; in Notebook 7's tree this is its "New" menu.
        mainMenu?.fileMenu.newMenu.addGroup(
          launcherItems(baseUrl, items).map(args => ({ command: CommandIDs.open, args: { ...args } })),
          30
        );
        app.commands.notifyCommandChanged(CommandIDs.open);
      })
      .catch(error => {
        Notification.error(`jupyter-server-proxy: could not load the list of apps: ${String(error)}`);
      });
  }
};

/**
 * Notebook 7's tree view: its file browser toolbar has a "New" dropdown (a MenuBar with one
 * menu) that no token exposes. Find it through the toolbar's widgets and add the apps; Notebook
 * rebuilds that menu when kernel specs change, so add them again then.
 */
const treeNewMenu: JupyterFrontEndPlugin<void> = {
  id: '@jupyterhub/jupyter-server-proxy:tree-new-menu',
  description: "Lists jupyter-server-proxy's apps in Notebook 7's New menu",
  autoStart: true,
  optional: [IDefaultFileBrowser, ILabShell],
  activate: (app: JupyterFrontEnd, browser: IDefaultFileBrowser | null, labShell: ILabShell | null) => {
    if (!browser || labShell) {
      return; // JupyterLab has the launcher and File > New
    }
    const client = new ServerProxyClient();
    const baseUrl = PageConfig.getBaseUrl();
    const findMenu = (): Menu | null => {
      for (const widget of browser.toolbar.children()) {
        if (widget instanceof MenuBar && widget.menus.length) {
          return widget.menus[0];
        }
      }
      return null;
    };
    void client.serversInfo().then(({ items }) => {
      const entries = launcherItems(baseUrl, items);
      if (!entries.length) {
        return;
      }
      const addTo = (menu: Menu) => {
        if (menu.items.some(i => i.command === CommandIDs.open)) {
          return;
        }
        menu.addItem({ type: 'separator' });
        for (const args of entries) {
          menu.addItem({ command: CommandIDs.open, args: { ...args, newBrowserTab: true } });
        }
      };
      let tries = 0;
      const attempt = () => {
        const menu = findMenu();
        if (menu) {
          addTo(menu);
          app.serviceManager.kernelspecs.specsChanged.connect(() => addTo(menu));
        } else if (tries++ < 50) {
          window.setTimeout(attempt, 200); // the toolbar is built from settings, later
        }
      };
      attempt();
    });
  }
};

export default [plugin, treeNewMenu];
