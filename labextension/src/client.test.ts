import { ServerConnection } from '@jupyterlab/services';
import { describe, expect, it } from 'vitest';

import { ServerProxyClient, StartFailed } from './client';
import { ValidationError } from './model';

/** A client whose server answers every request with `status` and the JSON `body`. */
function clientAnswering(
  status: number,
  body: unknown
): { client: ServerProxyClient; requests: Request[] } {
  const requests: Request[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    requests.push(new Request(input, init));
    return new Response(JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/json' }
    });
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://127.0.0.1:8899/user/a/',
    wsUrl: 'ws://127.0.0.1:8899/user/a/',
    fetch,
    Request,
    Headers
  });
  return { client: new ServerProxyClient(settings), requests };
}

describe('ServerProxyClient', () => {
  it('validates the servers list instead of trusting it', async () => {
    const { client } = clientAnswering(200, {
      servers: [{ name: 'r', state: 'dancing', url: '/r/' }]
    });
    await expect(client.servers()).rejects.toThrow(ValidationError);
    const { client: notAList } = clientAnswering(200, { servers: 'r' });
    await expect(notAList.servers()).rejects.toThrow(ValidationError);
  });

  it('asks under the base URL, with the app name escaped', async () => {
    const { client, requests } = clientAnswering(200, { lines: ['a', 2] });
    expect(await client.logs('my app')).toEqual(['a', '2']);
    // (makeRequest adds a cache-busting query.)
    const url = new URL(requests[0].url);
    expect(url.origin + url.pathname).toBe(
      'http://127.0.0.1:8899/user/a/server-proxy/api/servers/my%20app/logs'
    );
  });

  it("turns a failed start into StartFailed with the server's reason", async () => {
    const { client, requests } = clientAnswering(503, {
      message: 'r exited',
      exit_code: 3,
      log_tail: ['no license']
    });
    const error = await client.start('r', true).catch(e => e);
    expect(error).toBeInstanceOf(StartFailed);
    expect(error.failure).toEqual({
      message: 'r exited',
      exitCode: 3,
      logTail: ['no license']
    });
    expect(requests[0].method).toBe('POST');
    expect(new URL(requests[0].url).pathname).toBe(
      '/user/a/server-proxy/api/servers/r/restart'
    );
  });

  it('rejects a servers-info that is not one', async () => {
    const { client } = clientAnswering(200, ['not', 'servers-info']);
    await expect(client.serversInfo()).rejects.toThrow(ValidationError);
  });

  it("sends launch parameters as the contract's JSON body, to <name>@<instance>", async () => {
    const { client, requests } = clientAnswering(200, {
      name: 'tb@exp1',
      state: 'running',
      url: '/user/a/tb@exp1/'
    });
    const status = await client.start('tb@exp1', false, { logdir: '/x' });
    expect(status.instance).toBe('exp1');
    expect(new URL(requests[0].url).pathname).toBe(
      '/user/a/server-proxy/api/servers/tb@exp1'
    );
    expect(await requests[0].json()).toEqual({ parameters: { logdir: '/x' } });
    // Without parameters, no body: a plain start, as before.
    await client.start('tb');
    expect(await requests[1].text()).toBe('');
  });

  it('tells a refused start (400: a bad parameter) from a failed one', async () => {
    const { client } = clientAnswering(400, {
      status: 400,
      title: 'Bad Request',
      message: "parameter 'logdir' must match ^/"
    });
    const error = await client
      .start('tb', false, { logdir: 'x' })
      .catch(e => e);
    expect(error).toBeInstanceOf(StartFailed);
    expect(error.refused).toBe(true);
    expect(error.message).toBe("parameter 'logdir' must match ^/");
  });
});
