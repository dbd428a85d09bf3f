/**
 * The arguments of `server-proxy:open`, resolved against the apps the server lists now.
 *
 * Rule: an app's URL is always built from the server Lab talks to now (its base URL and the
 * app's `path_info`), never taken from stored arguments. A workspace saved on another server
 * (another port, another JupyterHub user) carries that server's URL; a frame of it would be
 * blocked by the browser or, worse, show another server's app.
 *
 * Pure functions on plain data, unit-tested without a browser.
 */

import { IOpenArgs, joinUrl } from './model';
import { INSTANCE_NAME, joinName, splitName } from './names';

const LEGACY_ID = /^server-proxy:/;

/** The mark 4.x puts on the label of an app that opens in a new browser tab. */
export const NEW_TAB_MARK = ' [↗]';

/**
 * A card's (and the palette's) label: the title, with 4.x's mark when the app opens in a new
 * browser tab. Only in JupyterLab: in Notebook 7 every app opens in a new tab, so the mark
 * would say nothing (4.x leaves it out there too).
 */
export function openLabel(
  title: string,
  newBrowserTab: boolean,
  inLab: boolean
): string {
  return newBrowserTab && inLab ? `${title}${NEW_TAB_MARK}` : title;
}

/**
 * Marks the open command's arguments of a tab restored from a workspace: it opens directly,
 * without the launch dialog popping up as the page loads (a refused start shows why in the tab).
 */
export const RESTORED = 'restored';

/** What a Lab tab stores in the workspace to be reopened: its app's name, never its URL. */
export function restoreArgs(args: IOpenArgs): {
  id: string;
  title: string;
  newBrowserTab: boolean;
  restored: true;
} {
  return {
    id: args.id,
    title: args.title,
    newBrowserTab: false,
    [RESTORED]: true
  };
}

/**
 * The arguments that open an instance of an app (`tb@exp1`): its URL is
 * `<base_url><name>@<instance>/` (the contract's instance path), its title names the instance.
 */
export function instanceArgs(
  baseUrl: string,
  app: IOpenArgs,
  instance: string
): IOpenArgs {
  const name = joinName(app.id, instance);
  return {
    ...app,
    id: name,
    title: `${app.title} (${instance})`,
    url: joinUrl(baseUrl, `${name}/`)
  };
}

/**
 * Resolve the command's raw arguments. A known app gets its URL from `known` (built from the
 * current base URL); the given `url` counts only for an id the server does not list, and then
 * only when it is on this page's origin. Null when nothing can be opened.
 */
export function resolveOpenArgs(
  raw: Readonly<Record<string, unknown>>,
  known: ReadonlyMap<string, IOpenArgs>,
  origin: string,
  baseUrl: string = origin
): IOpenArgs | null {
  const given = typeof raw['id'] === 'string' ? raw['id'] : null;
  if (!given) {
    return null;
  }
  // 4.x's ids carry a `server-proxy:` prefix (its saved workspaces have them).
  const app =
    known.get(given) ??
    known.get(given.replace(LEGACY_ID, '')) ??
    instanceOf(given, known, baseUrl);
  const url = app?.url ?? sameOriginUrl(raw['url'], origin);
  if (!url) {
    return null;
  }
  return {
    id: app?.id ?? given,
    url,
    title:
      typeof raw['title'] === 'string' ? raw['title'] : (app?.title ?? given),
    newBrowserTab:
      typeof raw['newBrowserTab'] === 'boolean'
        ? raw['newBrowserTab']
        : (app?.newBrowserTab ?? true),
    category: app?.category ?? 'Notebook'
  };
}

/** The args of an instance (`tb@exp1`) of a known app, or undefined. */
function instanceOf(
  name: string,
  known: ReadonlyMap<string, IOpenArgs>,
  baseUrl: string
): IOpenArgs | undefined {
  const { app, instance } = splitName(name);
  const args = known.get(app);
  if (!args || instance === null || !INSTANCE_NAME.test(instance)) {
    return undefined;
  }
  return instanceArgs(baseUrl, args, instance);
}

function sameOriginUrl(url: unknown, origin: string): string | null {
  if (typeof url !== 'string' || !url) {
    return null;
  }
  try {
    const parsed = new URL(url, origin);
    return parsed.origin === new URL(origin).origin ? parsed.href : null;
  } catch {
    return null;
  }
}
