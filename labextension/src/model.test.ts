import { describe, expect, it } from 'vitest';

import {
  joinUrl,
  launcherItems,
  parseAppStatus,
  parseFailure,
  parseServersInfo,
  stateBadge,
  statusTooltip,
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
      newBrowserTab: true
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
  it('parses an app status and labels failures with their exit code', () => {
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
    expect(stateBadge(status)).toBe('failed 3');
    expect(statusTooltip('R', status)).toBe(
      'R: failed, exit code 3, port 8000'
    );
    expect(() =>
      parseAppStatus({ name: 'r', state: 'dancing', url: '/' })
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
