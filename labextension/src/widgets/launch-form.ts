/**
 * The body of the launch dialog: an instance name (for "New instance…") and one field per
 * launch parameter, built from the app's schema (a select for `enum`, a checkbox for
 * booleans, a number field for numbers, a text field otherwise), with titles, descriptions
 * and defaults. Each change checks every field (`checkFields`), shows what is wrong under
 * the field and disables the dialog's Launch button until nothing is.
 *
 * The fields use no native constraints (`required`, `pattern`, `min`): JupyterLab's dialog
 * checks `:invalid` before this form has seen the keystroke, and JSON Schema's rules differ
 * from HTML's (an unanchored pattern), so one checker decides.
 */

import { Widget } from '@lumino/widgets';

import { instanceNameProblem } from '../names';
import {
  checkFields,
  Fields,
  IChecked,
  IParameter,
  ParameterValue
} from '../parameters';
import { text } from './dom';

/** What the dialog answers when Launch is pressed. */
export interface ILaunchAnswer {
  /** The instance name, or null when the form did not ask for one. */
  instance: string | null;
  fields: Fields;
  checked: IChecked;
  /** Why the instance name cannot be used, or null. */
  instanceProblem: string | null;
}

export interface ILaunchFormOptions {
  params: IParameter[];
  fields: Fields;
  /** Ask for an instance name, starting with this one; null: the default instance. */
  instance: string | null;
  /** The server's answer to the last try (a 400's message), shown above the fields. */
  message: string | null;
}

export const INSTANCE_FIELD = '@instance';

/** Numbers the fields' ids, which their labels point at. */
let fieldCount = 0;

function label(content: string, forId: string): HTMLLabelElement {
  const node = text('label', content);
  node.htmlFor = forId;
  return node;
}

function choiceText(value: ParameterValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export class LaunchForm extends Widget {
  private readonly inputs = new Map<
    string,
    HTMLInputElement | HTMLSelectElement
  >();
  private readonly errors = new Map<string, HTMLElement>();

  constructor(private readonly options: ILaunchFormOptions) {
    super();
    this.addClass('jp-ServerProxy-launchForm');
    const form = document.createElement('form');
    // Enter submits through the dialog (its default button), never as a page navigation.
    form.onsubmit = event => event.preventDefault();
    if (options.message) {
      const message = text('p', options.message);
      message.className = 'jp-ServerProxy-launchMessage';
      form.appendChild(message);
    }
    if (options.instance !== null) {
      const input = document.createElement('input');
      input.type = 'text';
      input.value = options.instance;
      input.placeholder = 'exp1';
      this.addRow(form, INSTANCE_FIELD, 'Instance name', null, input);
    }
    for (const p of options.params) {
      this.addRow(form, p.name, p.title, p.description, this.field(p));
    }
    form.addEventListener('input', () => this.check());
    form.addEventListener('change', () => this.check());
    this.node.appendChild(form);
  }

  /** Read the fields; the dialog calls this when Launch is pressed. */
  getValue(): ILaunchAnswer {
    const fields: Fields = {};
    for (const p of this.options.params) {
      const input = this.inputs.get(p.name);
      if (input instanceof HTMLInputElement && input.type === 'checkbox') {
        fields[p.name] = input.checked;
      } else if (input) {
        fields[p.name] = input.value;
      }
    }
    const instanceInput = this.inputs.get(INSTANCE_FIELD);
    const instance = instanceInput ? instanceInput.value.trim() : null;
    return {
      instance,
      fields,
      checked: checkFields(this.options.params, fields),
      instanceProblem: instance === null ? null : instanceNameProblem(instance)
    };
  }

  protected onAfterAttach(): void {
    this.check();
  }

  /** Show each field's problem and allow Launch only when there is none. */
  private check(): void {
    const answer = this.getValue();
    const problems: Record<string, string> = { ...answer.checked.errors };
    if (answer.instanceProblem) {
      problems[INSTANCE_FIELD] = answer.instanceProblem;
    }
    for (const [name, node] of this.errors) {
      node.textContent = problems[name] ?? '';
      this.inputs
        .get(name)
        ?.classList.toggle('jp-ServerProxy-invalid', name in problems);
    }
    const accept = this.node
      .closest('.jp-Dialog-content')
      ?.querySelector<HTMLButtonElement>('.jp-Dialog-button.jp-mod-accept');
    if (accept) {
      accept.disabled = Object.keys(problems).length > 0;
    }
  }

  private field(p: IParameter): HTMLInputElement | HTMLSelectElement {
    const value = this.options.fields[p.name];
    if (p.type === 'boolean') {
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = value === true;
      return input;
    }
    if (p.enum) {
      const select = document.createElement('select');
      if (!p.required || p.default === null) {
        select.appendChild(new Option('', ''));
      }
      p.enum.forEach((choice, index) =>
        select.appendChild(new Option(choiceText(choice), String(index)))
      );
      select.value = typeof value === 'string' ? value : '';
      return select;
    }
    // Numbers too are text fields (with a numeric keyboard): a number field hides what was
    // typed when it is not a number, and is :invalid behind the checker's back.
    const input = document.createElement('input');
    input.type = 'text';
    if (p.type !== 'string') {
      input.inputMode = p.type === 'integer' ? 'numeric' : 'decimal';
    }
    input.value = typeof value === 'string' ? value : '';
    return input;
  }

  private addRow(
    form: HTMLFormElement,
    name: string,
    title: string,
    description: string | null,
    input: HTMLInputElement | HTMLSelectElement
  ): void {
    const id = `jp-ServerProxy-field-${++fieldCount}`;
    input.id = id;
    input.name = name;
    input.dataset.parameter = name;
    input.classList.add('jp-mod-styled');
    const row = document.createElement('div');
    row.className = 'jp-ServerProxy-field';
    const checkbox =
      input instanceof HTMLInputElement && input.type === 'checkbox';
    if (checkbox) {
      const line = label('', id);
      line.append(input, ` ${title}`);
      row.appendChild(line);
    } else {
      row.append(label(title, id), input);
    }
    if (description) {
      const help = text('small', description);
      help.className = 'jp-ServerProxy-fieldHelp';
      row.appendChild(help);
    }
    const error = document.createElement('div');
    error.className = 'jp-ServerProxy-fieldError';
    row.appendChild(error);
    this.inputs.set(name, input);
    this.errors.set(name, error);
    form.appendChild(row);
  }
}
