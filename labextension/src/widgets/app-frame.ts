/**
 * A Lab tab for an app: shows "starting…", asks the server to start the app, then loads it in
 * an iframe; if the app cannot start, shows why (message, exit code, log tail).
 *
 * The first start may be the launch dialog's (with parameters): if the server refuses it
 * (400, nothing started), the tab closes and `started` rejects, so the dialog can ask again.
 */

import { IFrame, MainAreaWidget } from '@jupyterlab/apputils';
import { Panel, Widget } from '@lumino/widgets';

import { ServerProxyClient, StartFailed } from '../client';
import { iconFor, NAMESPACE } from '../icons';
import { IOpenArgs } from '../model';
import { failureParts, text } from './dom';

export class AppFrame extends MainAreaWidget<Panel> {
  readonly frame: IFrame;
  /**
   * Settles when the first start has answered (the app is up, or its failure is shown);
   * rejects with the `StartFailed` of a refused launch (the tab is closed then).
   */
  readonly started: Promise<void>;
  private readonly status: HTMLDivElement;

  constructor(
    readonly args: IOpenArgs,
    private readonly client: ServerProxyClient,
    launch?: () => Promise<unknown>
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
    this.started = this.load(false, launch);
  }

  /** (Re)load: start the app through the API (or `launch`), then point the iframe at it. */
  async load(restart = false, launch?: () => Promise<unknown>): Promise<void> {
    this.frame.hide();
    this.status.hidden = false;
    this.status.className = 'jp-ServerProxy-status';
    this.status.replaceChildren(text('p', `Starting ${this.args.title}…`));
    try {
      await (launch ? launch() : this.client.start(this.args.id, restart));
    } catch (error) {
      if (launch && error instanceof StartFailed && error.refused) {
        this.dispose();
        throw error;
      }
      this.showFailure(error);
      return;
    }
    this.status.hidden = true;
    this.frame.url = this.args.url;
    this.frame.show();
  }

  private showFailure(error: unknown): void {
    const retry = document.createElement('button');
    retry.className = 'jp-mod-styled jp-mod-accept';
    retry.textContent = 'Try again';
    retry.onclick = () => void this.load();
    this.status.className = 'jp-ServerProxy-status jp-mod-failed';
    this.status.replaceChildren(
      text('h2', `${this.args.title} could not start`),
      ...failureParts(error),
      retry
    );
  }
}
