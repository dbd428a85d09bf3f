/**
 * JupyterLab (and Notebook 7) frontend of jupyter-server-proxy.
 *
 * Layout, one concern per module:
 * - `model`: the server's JSON, validated (never cast); `open-args`: the open command's
 *   arguments, labels and restored tabs' URLs. Both pure, unit-tested.
 * - `client`: the server's API; `catalog`: the apps the server lists now; `icons`.
 * - `widgets/`: the Lab tab with an app (`app-frame`), its log (`log-view`), the new browser
 *   tab that shows "Starting…" (`starting-tab`).
 * - `running`: the Running panel section; `launcher`: cards, palette and File > New;
 *   `notebook`: Notebook 7's New menu; `plugins`: the JupyterLab plugin that wires them.
 */

import { notebookNewMenu } from './notebook';
import { labPlugin } from './plugins';

export default [labPlugin, notebookNewMenu];
