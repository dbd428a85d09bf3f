/**
 * Launching an app that takes parameters, or a new instance of one: ask in a dialog (the form
 * in `widgets/launch-form`), start it with the values (`POST .../servers/<name>[@<instance>]`
 * with `{"parameters": {...}}`), and open it once the start answers. A start the server
 * refuses (400: a bad parameter, nothing started) asks again, with the server's message and
 * the values as they were. Apps without parameters never see the dialog.
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';

import { ServerProxyClient, StartFailed } from './client';
import { IOpenArgs, IServerProcess } from './model';
import { joinName } from './names';
import { instanceArgs } from './open-args';
import { Fields, initialFields } from './parameters';
import { ILaunchAnswer, LaunchForm } from './widgets/launch-form';

/**
 * Opens an app (a Lab tab or a browser tab) and starts it with `start`; settles once the
 * start answered, and rejects with the `StartFailed` of a refused start (having closed
 * what it opened).
 */
export type Opener = (
  args: IOpenArgs,
  start: () => Promise<unknown>
) => Promise<unknown>;

export interface ILaunchRequest {
  process: IServerProcess;
  /** The default instance's open arguments. */
  args: IOpenArgs;
  /** Ask for an instance name, suggesting this one; null: launch the default instance. */
  instance: string | null;
}

async function ask(
  request: ILaunchRequest,
  fields: Fields,
  instance: string | null,
  message: string | null
): Promise<ILaunchAnswer | null> {
  const title = request.args.title;
  const result = await showDialog<ILaunchAnswer>({
    title:
      request.instance === null
        ? `Launch ${title}`
        : `New instance of ${title}`,
    body: new LaunchForm({
      params: request.process.parameters ?? [],
      fields,
      instance,
      message
    }),
    buttons: [
      Dialog.cancelButton(),
      Dialog.okButton({ label: 'Launch', ariaLabel: `Launch ${title}` })
    ],
    focusNodeSelector: 'input, select'
  });
  return result.button.accept ? result.value : null;
}

export async function launch(
  request: ILaunchRequest,
  client: ServerProxyClient,
  open: Opener
): Promise<void> {
  const params = request.process.parameters ?? [];
  let fields = initialFields(params);
  let instance = request.instance;
  let message: string | null = null;
  for (;;) {
    const answer = await ask(request, fields, instance, message);
    if (!answer) {
      return;
    }
    fields = answer.fields;
    instance = answer.instance;
    // The dialog accepts Enter even while the form shows a problem: ask again then.
    const problems = Object.values(answer.checked.errors);
    if (answer.instanceProblem) {
      problems.unshift(answer.instanceProblem);
    }
    if (problems.length) {
      message = problems.join('; ');
      continue;
    }
    const args =
      answer.instance === null
        ? request.args
        : instanceArgs(client.settings.baseUrl, request.args, answer.instance);
    const name = joinName(request.process.name, answer.instance);
    const values = answer.checked.values;
    try {
      await open(args, () =>
        client.start(name, false, params.length ? values : undefined)
      );
      return;
    } catch (error) {
      if (error instanceof StartFailed && error.refused) {
        message = error.failure.message;
        continue;
      }
      throw error;
    }
  }
}
