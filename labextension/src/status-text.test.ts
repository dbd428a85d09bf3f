import { describe, expect, it } from 'vitest';

import { IAppStatus, parseAppStatus } from './model';
import {
  appGroups,
  endedBadly,
  ran,
  stateText,
  statusTooltip
} from './status-text';

/** An app entry as the contract shapes it, with `fields` over a stopped, never-run app. */
function status(fields: Record<string, unknown>): IAppStatus {
  return parseAppStatus({
    name: 'hello',
    state: 'stopped',
    pid: null,
    port: null,
    unix_socket: null,
    started_at: null,
    exit_code: null,
    url: '/hello/',
    reason: null,
    stopped_at: null,
    ...fields
  });
}

const ENDED = '2026-12-03T10:00:00+00:00';

describe('stateText', () => {
  it('says what happened in a few words', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ state: 'running', pid: 7 }, 'running'],
      [{ state: 'starting' }, 'starting'],
      [
        { reason: 'idle', stopped_at: ENDED, exit_code: -15 },
        'stopped after idle'
      ],
      [{ state: 'exited', reason: 'exited', exit_code: 1 }, 'exited (code 1)'],
      [
        { reason: 'exited', exit_code: 0, stopped_at: ENDED },
        'exited (code 0)'
      ],
      [
        { state: 'failed', reason: 'crash-loop', exit_code: 1 },
        'failed: crash loop'
      ],
      [
        { state: 'failed', reason: 'start-failed', exit_code: 3 },
        'failed to start (code 3)'
      ],
      [{ state: 'failed', exit_code: 3 }, 'failed to start (code 3)'],
      [{ reason: 'user', stopped_at: ENDED, exit_code: -15 }, 'stopped'],
      [{ reason: 'shutdown', stopped_at: ENDED }, 'stopped with the server'],
      [{ reason: 'quota', stopped_at: ENDED }, 'stopped (quota)'],
      // A server from before `reason`: a stopped app that ran still has its exit code.
      [{ exit_code: -15 }, 'stopped'],
      [{}, 'not started']
    ];
    for (const [fields, text] of cases) {
      expect(stateText(status(fields))).toBe(text);
    }
  });

  it('puts what the line leaves out in the tooltip', () => {
    expect(
      statusTooltip(
        'Hello',
        status({
          reason: 'idle',
          idle_timeout: 1800,
          exit_code: -15,
          stopped_at: ENDED,
          parameters: { logdir: '/x' }
        })
      )
    ).toBe(
      `Hello: stopped after idle, no traffic for 30 min, exit code -15, ended ${ENDED}, parameters: logdir=/x`
    );
    expect(
      statusTooltip(
        'Hello',
        status({ state: 'running', pid: 12, port: 8000, started_at: ENDED })
      )
    ).toBe(`Hello: running, pid 12, port 8000, started ${ENDED}`);
    expect(
      statusTooltip('Hello', status({ state: 'exited', exit_code: 1 }))
    ).toBe('Hello: exited (code 1)');
  });
});

describe('endedBadly', () => {
  it('marks exits and failures, not stops', () => {
    expect(endedBadly(status({ state: 'exited', exit_code: 0 }))).toBe(true);
    expect(endedBadly(status({ reason: 'exited', exit_code: 1 }))).toBe(true);
    expect(endedBadly(status({ state: 'failed' }))).toBe(true);
    expect(endedBadly(status({ reason: 'crash-loop' }))).toBe(true);
    expect(endedBadly(status({ reason: 'idle' }))).toBe(false);
    expect(endedBadly(status({ reason: 'user' }))).toBe(false);
    expect(endedBadly(status({ state: 'running' }))).toBe(false);
  });
});

describe('the Running panel keeps history', () => {
  it('lists every app that ran, not only the running ones', () => {
    expect(ran(status({}))).toBe(false);
    expect(ran(status({ reason: 'user' }))).toBe(true);
    expect(ran(status({ stopped_at: ENDED }))).toBe(true);
    expect(ran(status({ exit_code: 1 }))).toBe(true);
    expect(ran(status({ state: 'running' }))).toBe(true);
  });

  it('lists instances under their app, sorted, even when the app itself never ran', () => {
    const groups = appGroups([
      status({ name: 'tb' }),
      status({ name: 'hello', state: 'running' }),
      status({ name: 'tb@b', app: 'tb', instance: 'b', state: 'running' }),
      status({ name: 'idle' }),
      status({
        name: 'tb@a',
        app: 'tb',
        instance: 'a',
        reason: 'exited',
        exit_code: 1
      })
    ]);
    expect(
      groups.map(g => [g.app, g.main?.name, g.instances.map(i => i.name)])
    ).toEqual([
      ['tb', 'tb', ['tb@a', 'tb@b']],
      ['hello', 'hello', []]
    ]);
    expect(ran(groups[0].main as IAppStatus)).toBe(false);
  });
});
