/**
 * Open an app in a new browser tab that says "Starting …" while the server starts it, and
 * shows why if it cannot. The tab is opened at once (inside the click, so no popup blocker
 * objects), loses its `opener` before it navigates, and only then goes to the app.
 *
 * `launch` replaces the plain start (the launch dialog's, with parameters): a start the server
 * refuses (400, nothing started) closes the tab and rejects, so the dialog can ask again.
 */

import { ServerProxyClient, StartFailed } from '../client';
import { IOpenArgs } from '../model';
import { failureParts } from './dom';

export async function openInNewTab(
  args: IOpenArgs,
  client: ServerProxyClient,
  launch?: () => Promise<unknown>
): Promise<void> {
  const tab = window.open('', '_blank');
  if (!tab) {
    // A popup blocker: start it here, then let the browser open the app by its URL.
    await (launch ? launch() : Promise.resolve());
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
    await (launch ? launch() : client.start(args.id));
  } catch (error) {
    if (launch && error instanceof StartFailed && error.refused) {
      tab.close();
      throw error;
    }
    heading.textContent = `${args.title} could not start`;
    doc.body.replaceChildren(heading, ...failureParts(error, doc));
    return;
  }
  tab.location.href = new URL(args.url, window.location.href).href;
}
