/**
 * The adoption of a session stored before owners: an operator names the owner
 * it records from then on (`POST /sessions/{id}/owner`), onto the version the
 * page showed. Offered only by a server that has the route, for a session
 * without an owner; anyone but an operator hears 403 and the page stops
 * offering it.
 * @module
 */

import { adoptSession, type Session } from './api.ts';
import { confirmAction, type ErrorTold } from './dialog.ts';
import { el } from './dom.ts';

export interface AdoptRequest {
  shown: { session: Session; etag: string | null };
  /** Runs the request, announces `done` and reloads the page. */
  act: (work: () => Promise<unknown>, done: string) => Promise<void>;
  describeError: (error: unknown) => ErrorTold;
}

/** Opens the adoption dialog for the session shown. */
export async function confirmAdopt({ shown, act, describeError }: AdoptRequest): Promise<void> {
  const input = el('input', {
    attrs: { id: 'adopt-owner', type: 'text', autocomplete: 'off', spellcheck: 'false', maxlength: 512, required: true },
  });
  await confirmAction({
    title: 'Adopt this session?',
    body: [
      'It was stored before sessions had owners, so only operators may change it. Name its owner: from then on that owner (a runner’s tenant, or a principal ARN) may change it too. The owner never changes again.',
      el('div', { class: 'field' }, el('label', { text: 'Owner', attrs: { for: 'adopt-owner' } }), input),
    ],
    confirmLabel: 'Adopt',
    describeError,
    action: async () => {
      const owner = input.value.trim();
      if (owner === '') throw new Error('Name the owner first.');
      await act(() => adoptSession(shown.session.id, owner, shown.etag), `Adopted: ${owner} owns the session now.`);
    },
  });
}
