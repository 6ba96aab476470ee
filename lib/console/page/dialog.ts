/**
 * The console's confirmation dialog: a native modal `<dialog>` (focus moves
 * into it and Escape cancels it), with a title, what will happen, and a
 * confirm button whose action may fail and be reported inside the dialog.
 * @module
 */

import { ApiError } from './api.ts';
import { el } from './dom.ts';

export interface ConfirmSpec {
  title: string;
  /** Paragraphs or elements explaining what will happen. */
  body: (string | Node)[];
  confirmLabel: string;
  /** Styles the confirm button as destructive. */
  danger?: boolean;
  /** Runs on confirm; a thrown error is shown in the dialog, which stays open. */
  action: () => Promise<void>;
  /** How to tell an error; defaults to the error's message. */
  describeError?: (error: unknown) => ErrorTold;
}

/** What the dialog shows after a failed action: a message, and a way out (reload the view, or confirm again as `retryLabel`). */
export interface ErrorTold {
  message: string;
  reload?: () => void;
  /** The confirm button's new label when confirming again does something else (a forced restore); styled as destructive. */
  retryLabel?: string;
  /** Confirming again cannot help (the caller may not do this): the confirm button goes, Cancel becomes Close. */
  refused?: boolean;
}

let opened = 0;

/** Whether a dialog is open (live refreshes wait so that nothing moves under the operator). */
export function dialogOpen(): boolean {
  return opened > 0;
}

/** Opens a confirmation dialog; resolves true when the action ran, false when cancelled. */
export function confirmAction(spec: ConfirmSpec): Promise<boolean> {
  const titleId = `dialog-title-${Math.random().toString(36).slice(2)}`;
  const error = el('p', { class: 'dialog-error', attrs: { role: 'alert' } });
  error.hidden = true;
  const cancel = el('button', { class: 'button', text: 'Cancel', attrs: { type: 'button', value: 'cancel' } });
  const confirm = el('button', {
    class: spec.danger ? 'button danger' : 'button primary',
    text: spec.confirmLabel,
    attrs: { type: 'button' },
  });
  const actions = el('div', { class: 'dialog-actions' }, cancel, confirm);
  const dialog = el(
    'dialog',
    { class: 'dialog', attrs: { 'aria-labelledby': titleId } },
    el('h2', { text: spec.title, attrs: { id: titleId } }),
    ...spec.body.map((part) => (typeof part === 'string' ? el('p', { text: part }) : part)),
    error,
    actions,
  );
  document.body.append(dialog);
  opened++;
  return new Promise<boolean>((resolve) => {
    let done = false;
    const finish = (ran: boolean) => {
      if (done) return;
      done = true;
      opened--;
      if (dialog.open) dialog.close();
      dialog.remove();
      resolve(ran);
    };
    dialog.addEventListener('close', () => finish(false));
    cancel.addEventListener('click', () => finish(false));
    confirm.addEventListener('click', () => {
      confirm.disabled = true;
      confirm.setAttribute('aria-busy', 'true');
      spec.action().then(
        () => finish(true),
        (failure: unknown) => {
          const told = (spec.describeError ?? defaultDescription)(failure);
          error.replaceChildren(told.message);
          if (told.reload !== undefined) {
            const reload = el('button', { class: 'button primary', text: 'Reload', attrs: { type: 'button' } });
            reload.addEventListener('click', () => {
              finish(false);
              told.reload?.();
            });
            confirm.replaceWith(reload);
            reload.focus();
          } else if (told.refused === true) {
            confirm.remove();
            cancel.textContent = 'Close';
            cancel.focus();
          } else {
            if (told.retryLabel !== undefined) {
              confirm.textContent = told.retryLabel;
              confirm.className = 'button danger';
            }
            confirm.disabled = false;
            confirm.removeAttribute('aria-busy');
            confirm.focus();
          }
          error.hidden = false;
        },
      );
    });
    dialog.showModal();
    cancel.focus();
  });
}

function defaultDescription(error: unknown): ErrorTold {
  return { message: error instanceof ApiError ? `${error.message} (${error.code})` : String(error) };
}
