/**
 * Open an app in a new browser tab that says "Starting …" while the server starts it, and
 * shows why if it cannot. The tab is opened at once (inside the click, so no popup blocker
 * objects), loses its `opener` before it navigates, and only then goes to the app.
 */

import { ServerProxyClient } from '../client';
import { IOpenArgs } from '../model';
import { failureParts } from './dom';

export async function openInNewTab(
  args: IOpenArgs,
  client: ServerProxyClient
): Promise<void> {
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
    doc.body.replaceChildren(heading, ...failureParts(error, doc));
    return;
  }
  tab.location.href = new URL(args.url, window.location.href).href;
}
