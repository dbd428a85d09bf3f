/** What the command modules share: the client, the apps, the trackers and the Running panel. */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { WidgetTracker } from '@jupyterlab/apputils';

import { AppCatalog } from './catalog';
import { ServerProxyClient } from './client';
import { RunningApps } from './running';
import { AppFrame } from './widgets/app-frame';
import { LogView } from './widgets/log-view';

export interface IExtensionContext {
  app: JupyterFrontEnd;
  client: ServerProxyClient;
  catalog: AppCatalog;
  /** Lab tabs with an app, and with an app's log. */
  frames: WidgetTracker<AppFrame>;
  logs: WidgetTracker<LogView>;
  running: RunningApps;
  /** JupyterLab (tabs in its main area); false in Notebook 7, where apps open in new tabs. */
  inLab: boolean;
}

/** A command's `id` argument: an app or instance name. */
export function idOf(raw: Readonly<Record<string, unknown>>): string | null {
  return typeof raw['id'] === 'string' && raw['id'] ? raw['id'] : null;
}
