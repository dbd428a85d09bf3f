import { describe, expect, it } from 'vitest';

import { IOpenArgs } from './model';
import {
  instanceArgs,
  NEW_TAB_MARK,
  openLabel,
  resolveOpenArgs,
  restoreArgs
} from './open-args';

const HERE = 'http://127.0.0.1:8899/lab/workspaces/w';
const HELLO: IOpenArgs = {
  id: 'hello',
  title: 'Hello',
  url: 'http://127.0.0.1:8899/hello/',
  newBrowserTab: false,
  category: 'Notebook'
};
const KNOWN = new Map([['hello', HELLO]]);

describe('restored tabs', () => {
  it('store no URL, so a restored tab cannot point at another server', () => {
    expect(restoreArgs(HELLO)).toEqual({
      id: 'hello',
      title: 'Hello',
      newBrowserTab: false,
      restored: true
    });
  });

  it("build a known app's URL from the current server, ignoring a stored one", () => {
    // A workspace saved on port 8888 (by 4.x or an older build) carries its URL.
    const stored = {
      id: 'hello',
      title: 'Hello',
      url: 'http://127.0.0.1:8888/hello/',
      newBrowserTab: false
    };
    expect(resolveOpenArgs(stored, KNOWN, HERE)?.url).toBe(
      'http://127.0.0.1:8899/hello/'
    );
  });

  it("drop another origin's URL for an app this server does not list", () => {
    const stored = { id: 'gone', url: 'http://127.0.0.1:8888/gone/' };
    expect(resolveOpenArgs(stored, KNOWN, HERE)).toBeNull();
    expect(
      resolveOpenArgs({ id: 'mine', url: '/mine/' }, KNOWN, HERE)?.url
    ).toBe('http://127.0.0.1:8899/mine/');
  });

  it("open 4.x's saved tabs (ids prefixed with server-proxy:) as the app", () => {
    const saved = {
      id: 'server-proxy:hello',
      title: 'Hello',
      url: 'http://127.0.0.1:8888/hello/',
      newBrowserTab: false
    };
    expect(resolveOpenArgs(saved, KNOWN, HERE)).toEqual(HELLO);
  });

  it('keep what the caller asked for: title and where to open', () => {
    const args = resolveOpenArgs({ id: 'hello' }, KNOWN, HERE);
    expect(args).toEqual(HELLO);
    expect(
      resolveOpenArgs({ id: 'hello', newBrowserTab: true }, KNOWN, HERE)
        ?.newBrowserTab
    ).toBe(true);
    expect(resolveOpenArgs({}, KNOWN, HERE)).toBeNull();
    expect(resolveOpenArgs({ id: 7 }, KNOWN, HERE)).toBeNull();
  });
});

describe('instances', () => {
  const BASE = 'http://127.0.0.1:8899/user/a/';
  const TB: IOpenArgs = {
    ...HELLO,
    id: 'tb',
    title: 'TensorBoard',
    url: `${BASE}tb/lab`
  };

  it("open at <base_url><name>@<instance>/, whatever the app's path_info", () => {
    expect(instanceArgs(BASE, TB, 'exp1')).toEqual({
      ...TB,
      id: 'tb@exp1',
      title: 'TensorBoard (exp1)',
      url: `${BASE}tb@exp1/`
    });
  });

  it('resolve by name, so a restored instance tab opens on the current server', () => {
    const known = new Map([['tb', TB]]);
    const stored = {
      id: 'tb@exp1',
      title: 'TensorBoard (exp1)',
      url: 'http://127.0.0.1:8888/tb@exp1/'
    };
    expect(resolveOpenArgs(stored, known, HERE, BASE)?.url).toBe(
      `${BASE}tb@exp1/`
    );
    // Not an instance name, or not an app this server lists: nothing to open.
    expect(resolveOpenArgs({ id: 'tb@a/b' }, known, HERE, BASE)).toBeNull();
    expect(resolveOpenArgs({ id: 'gone@x' }, known, HERE, BASE)).toBeNull();
  });
});

describe('card labels', () => {
  it("carry 4.x's mark in JupyterLab when the app opens in a new browser tab", () => {
    expect(NEW_TAB_MARK).toBe(' [↗]');
    expect(openLabel('Tab App', true, true)).toBe('Tab App [↗]');
    expect(openLabel('Hello', false, true)).toBe('Hello');
  });

  it('carry no mark in Notebook 7, where every app opens in a new tab', () => {
    expect(openLabel('Tab App', true, false)).toBe('Tab App');
  });
});
