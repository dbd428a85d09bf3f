/** Small DOM helpers shared by the views. */

import { StartFailed } from '../client';

/** An element with text content: server-given strings are never parsed as HTML. */
export function text<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  content: string,
  doc: Document = document
): HTMLElementTagNameMap[K] {
  const node = doc.createElement(tag);
  node.textContent = content;
  return node;
}

/** The parts of a start failure: message, exit code and the last lines of the log. */
export function failureParts(
  error: unknown,
  doc: Document = document
): HTMLElement[] {
  if (!(error instanceof StartFailed)) {
    return [text('p', String(error), doc)];
  }
  const parts: HTMLElement[] = [text('p', error.failure.message, doc)];
  if (error.failure.exitCode !== null) {
    parts.push(text('p', `Exit code: ${error.failure.exitCode}`, doc));
  }
  if (error.failure.logTail.length) {
    parts.push(text('p', 'Last lines of its log:', doc));
    parts.push(text('pre', error.failure.logTail.join('\n'), doc));
  }
  return parts;
}
