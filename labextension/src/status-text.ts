/**
 * What the Running panel says about an app: its state in a few words ("exited (code 1)",
 * "stopped after idle", "failed: crash loop"), the tooltip with everything else, which apps it
 * lists (every one that ran since the server started: what happened stays readable, with its
 * log, until the app starts again), and instances grouped under their app.
 *
 * Pure functions on plain data, unit-tested without a browser.
 */

import { IAppStatus } from './model';
import { describeValues } from './parameters';

function withCode(words: string, status: IAppStatus): string {
  return status.exitCode === null
    ? words
    : `${words} (code ${status.exitCode})`;
}

/** The state in a few words, shown on its own line under the app's title. */
export function stateText(status: IAppStatus): string {
  switch (status.state) {
    case 'starting':
    case 'running':
      return status.state;
    case 'failed':
      if (status.reason === 'crash-loop') {
        return 'failed: crash loop';
      }
      return withCode('failed to start', status);
    case 'exited':
      return withCode('exited', status);
    case 'stopped':
      break;
  }
  switch (status.reason) {
    case 'idle':
      return 'stopped after idle';
    case 'exited':
      return withCode('exited', status);
    case 'crash-loop':
      return 'failed: crash loop';
    case 'start-failed':
      return withCode('failed to start', status);
    case 'shutdown':
      return 'stopped with the server';
    case 'user':
    case null:
      return ran(status) ? 'stopped' : 'not started';
    default:
      return `stopped (${status.reason})`;
  }
}

/** Whether the app ran since the server started (a stopped app that did has a trace). */
export function ran(status: IAppStatus): boolean {
  return (
    status.state !== 'stopped' ||
    status.reason !== null ||
    status.stoppedAt !== null ||
    status.exitCode !== null
  );
}

/** Whether it ended on its own or could not start (shown in the error colour). */
export function endedBadly(status: IAppStatus): boolean {
  return (
    status.state === 'exited' ||
    status.state === 'failed' ||
    (status.state === 'stopped' &&
      ['exited', 'crash-loop', 'start-failed'].includes(status.reason ?? ''))
  );
}

/** Whether it is up or coming up: what Stop applies to, and Restart rather than Start. */
export function isLive(status: IAppStatus): boolean {
  return status.state === 'running' || status.state === 'starting';
}

function minutes(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

/** The tooltip: the state and everything the line leaves out. */
export function statusTooltip(title: string, status: IAppStatus): string {
  const parts = [`${title}: ${stateText(status)}`];
  if (status.reason === 'idle' && status.idleTimeout) {
    parts.push(`no traffic for ${minutes(status.idleTimeout)}`);
  }
  if (status.exitCode !== null && !stateText(status).includes('code')) {
    parts.push(`exit code ${status.exitCode}`);
  }
  if (status.pid !== null) {
    parts.push(`pid ${status.pid}`);
  }
  if (status.port !== null) {
    parts.push(`port ${status.port}`);
  }
  if (status.unixSocket) {
    parts.push(`socket ${status.unixSocket}`);
  }
  if (status.startedAt && isLive(status)) {
    parts.push(`started ${status.startedAt}`);
  }
  if (status.stoppedAt && !isLive(status)) {
    parts.push(`ended ${status.stoppedAt}`);
  }
  if (Object.keys(status.parameters).length) {
    parts.push(`parameters: ${describeValues(status.parameters)}`);
  }
  return parts.join(', ');
}

export interface IAppGroup {
  app: string;
  /** The app's default instance, when the server listed it. */
  main: IAppStatus | null;
  /** Its other instances, by name. */
  instances: IAppStatus[];
}

/**
 * The apps to list, each with its instances under it: those that ran, or whose instances did
 * (a default instance that never ran still heads its instances' group), in the server's
 * order; instances sorted by name.
 */
export function appGroups(statuses: IAppStatus[]): IAppGroup[] {
  const groups = new Map<string, IAppGroup>();
  for (const status of statuses) {
    let group = groups.get(status.app);
    if (!group) {
      group = { app: status.app, main: null, instances: [] };
      groups.set(status.app, group);
    }
    if (status.instance === null) {
      group.main = status;
    } else {
      group.instances.push(status);
    }
  }
  for (const group of groups.values()) {
    group.instances.sort((a, b) => a.name.localeCompare(b.name));
  }
  return [...groups.values()].filter(
    g => g.instances.length || (g.main && ran(g.main))
  );
}
