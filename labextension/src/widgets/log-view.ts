/** A Lab tab with the tail of an app's log, refreshed while it is open. */

import { MainAreaWidget } from '@jupyterlab/apputils';
import { listIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { ServerProxyClient } from '../client';
import { NAMESPACE } from '../icons';

/** How often an open log view asks for the log again, in ms. */
const REFRESH_INTERVAL = 2000;

export class LogView extends MainAreaWidget<Widget> {
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
    this.timer = window.setInterval(
      () => void this.refresh(),
      REFRESH_INTERVAL
    );
  }

  async refresh(): Promise<void> {
    try {
      const lines = await this.client.logs(this.app);
      this.pre.textContent = lines.length
        ? lines.join('\n')
        : '(no output yet)';
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
