import { describe, expect, it } from 'vitest';

import {
  joinUrl,
  launcherItems,
  parseAppStatus,
  parseFailure,
  parseServersInfo,
  ValidationError
} from './model';

const INFO = {
  server_processes: [
    {
      name: 'rstudio',
      launcher_entry: {
        enabled: true,
        title: 'RStudio',
        path_info: 'rstudio/',
        category: 'Notebook',
        icon_url: '/user/a/server-proxy/icon/rstudio',
        rank: 3
      },
      new_browser_tab: true
    },
    {
      name: 'hidden',
      launcher_entry: {
        enabled: false,
        title: 'Hidden',
        path_info: 'hidden/',
        category: 'Other'
      },
      new_browser_tab: false
    },
    { name: 'minimal' }
  ]
};

describe('parseServersInfo', () => {
  it('reads every field the server sends, with the peer defaults for missing ones', () => {
    const { items, problems } = parseServersInfo(INFO);
    expect(problems).toEqual([]);
    expect(items[0]).toEqual({
      name: 'rstudio',
      launcherEntry: {
        enabled: true,
        title: 'RStudio',
        pathInfo: 'rstudio/',
        category: 'Notebook',
        iconUrl: '/user/a/server-proxy/icon/rstudio',
        rank: 3
      },
      newBrowserTab: true,
      instances: false,
      parameters: null
    });
    expect(items[2].launcherEntry).toEqual({
      enabled: true,
      title: 'minimal',
      pathInfo: 'minimal/',
      category: 'Notebook',
      iconUrl: null,
      rank: null
    });
  });

  it('reports an app whose rank is not a number and keeps the others', () => {
    const { items, problems } = parseServersInfo({
      server_processes: [
        { name: 'a', launcher_entry: { rank: 'first' } },
        { name: 'b' }
      ]
    });
    expect(items.map(p => p.name)).toEqual(['b']);
    expect(problems).toEqual([
      'server_processes[0].launcher_entry.rank should be a number, got "first"'
    ]);
  });

  it('rejects a document that is not servers-info', () => {
    expect(() => parseServersInfo([])).toThrow(ValidationError);
    expect(() => parseServersInfo({ server_processes: 'x' })).toThrow(
      ValidationError
    );
    expect(() => parseServersInfo(null)).toThrow(ValidationError);
  });

  it('skips a bad entry with a reason and keeps the others', () => {
    const { items, problems } = parseServersInfo({
      server_processes: [
        { name: 3 },
        { name: 'ok' },
        { name: 'bad', launcher_entry: { enabled: 'yes' } },
        { name: 'icon', launcher_entry: { icon_url: 7 } }
      ]
    });
    expect(items.map(i => i.name)).toEqual(['ok']);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('server_processes[0].name');
    expect(problems[1]).toContain('enabled');
  });
});

describe('servers-info of issue 14', () => {
  it('reads instances and the parameters schema; a bad schema leaves the app out', () => {
    const { items, problems } = parseServersInfo({
      server_processes: [
        {
          name: 'tb',
          instances: true,
          parameters: {
            type: 'object',
            properties: { logdir: { type: 'string', title: 'Log directory' } },
            required: ['logdir']
          }
        },
        { name: 'bad', parameters: { properties: { x: { type: 'array' } } } },
        { name: 'plain', instances: false, parameters: null }
      ]
    });
    expect(items.map(p => p.name)).toEqual(['tb', 'plain']);
    expect(items[0].instances).toBe(true);
    expect(items[0].parameters?.map(p => [p.name, p.required])).toEqual([
      ['logdir', true]
    ]);
    expect(items[1]).toMatchObject({ instances: false, parameters: null });
    expect(problems).toEqual([
      'server_processes[1].parameters.properties.x.type should be string, integer, number or boolean, got "array"'
    ]);
  });
});

describe('launcherItems', () => {
  it('makes one card per enabled app, with the URL under the base URL', () => {
    const { items } = parseServersInfo(INFO);
    expect(launcherItems('/user/a/', items)).toEqual([
      {
        id: 'rstudio',
        title: 'RStudio',
        url: '/user/a/rstudio/',
        newBrowserTab: true,
        category: 'Notebook'
      },
      {
        id: 'minimal',
        title: 'minimal',
        url: '/user/a/minimal/',
        newBrowserTab: true,
        category: 'Notebook'
      }
    ]);
  });
});

describe('lifecycle JSON', () => {
  it("parses a server from before issue 14's fields, with their absence's meaning", () => {
    const status = parseAppStatus({
      name: 'r',
      state: 'failed',
      pid: null,
      port: 8000,
      unix_socket: null,
      started_at: null,
      exit_code: 3,
      url: '/r/'
    });
    expect(status).toMatchObject({
      name: 'r',
      app: 'r',
      instance: null,
      parameters: {},
      reason: null,
      stoppedAt: null,
      idleTimeout: null,
      exitCode: 3
    });
    expect(() =>
      parseAppStatus({ name: 'r', state: 'dancing', url: '/' })
    ).toThrow(ValidationError);
  });

  it("reads the contract's instance and history fields", () => {
    const status = parseAppStatus({
      name: 'tb@exp1',
      app: 'tb',
      instance: 'exp1',
      parameters: { logdir: '/x', workers: 2 },
      state: 'stopped',
      reason: 'idle',
      stopped_at: '2026-12-03T10:00:00+00:00',
      restart: 'on-request',
      idle_timeout: 1800,
      pid: null,
      port: null,
      unix_socket: null,
      started_at: null,
      exit_code: -15,
      url: '/tb@exp1/'
    });
    expect(status).toMatchObject({
      app: 'tb',
      instance: 'exp1',
      parameters: { logdir: '/x', workers: 2 },
      reason: 'idle',
      stoppedAt: '2026-12-03T10:00:00+00:00',
      idleTimeout: 1800
    });
    // Without `app`/`instance`, the name says which instance it is.
    expect(
      parseAppStatus({ name: 'tb@exp2', state: 'running', url: '/' })
    ).toMatchObject({ app: 'tb', instance: 'exp2' });
    expect(() =>
      parseAppStatus({ name: 'r', state: 'stopped', url: '/', reason: 3 })
    ).toThrow(ValidationError);
    expect(() =>
      parseAppStatus({ name: 'r', state: 'stopped', url: '/', parameters: [] })
    ).toThrow(ValidationError);
  });

  it('reads a start failure, tolerating missing fields', () => {
    expect(
      parseFailure({ message: 'm', exit_code: 2, log_tail: ['a', 5, 'b'] }, 'x')
    ).toEqual({
      message: 'm',
      exitCode: 2,
      logTail: ['a', 'b']
    });
    expect(parseFailure('nope', 'fallback')).toEqual({
      message: 'fallback',
      exitCode: null,
      logTail: []
    });
  });
});

describe('joinUrl', () => {
  it('joins with exactly one slash', () => {
    expect(joinUrl('/a/', '/b/')).toBe('/a/b/');
    expect(joinUrl('http://h/base', 'x')).toBe('http://h/base/x');
  });
});

describe('server-side problems', () => {
  it('passes on the apps the server left out, with the reason', () => {
    const { items, problems } = parseServersInfo({
      server_processes: [{ name: 'ok' }],
      problems: [
        { name: 'bad', message: "app 'bad': timeout = 'x' is not valid" },
        7
      ]
    });
    expect(items).toHaveLength(1);
    expect(problems).toEqual(["app 'bad': timeout = 'x' is not valid"]);
  });
});
