/**
 * JupyterLab (and Notebook 7) frontend of jupyter-server-proxy.
 *
 * Layout, one concern per module:
 * - Pure, unit-tested: `json` (reading untrusted JSON), `model` (the server's documents,
 *   validated, never cast), `names` (`<name>@<instance>`), `parameters` (launch parameters'
 *   schema, form values and their checks), `status-text` (what the Running panel says),
 *   `open-args` (the open command's arguments, labels and restored tabs' URLs).
 * - `client`: the server's API; `catalog`: the apps the server lists now; `icons`.
 * - `widgets/`: the Lab tab with an app (`app-frame`), its log (`log-view`), the new browser
 *   tab that shows "Starting…" (`starting-tab`), the launch dialog's form (`launch-form`).
 * - `launch`: ask for parameters, start with them, open; `open-commands`: open and New
 *   Instance; `app-commands`: Show log, Start, Restart, Stop; `context`: what they share.
 * - `running`: the Running panel section; `launcher`: cards, palette and File > New;
 *   `notebook`: Notebook 7's New menu; `plugins`: the JupyterLab plugin that wires them.
 */

import { notebookNewMenu } from './notebook';
import { labPlugin } from './plugins';

export default [labPlugin, notebookNewMenu];
