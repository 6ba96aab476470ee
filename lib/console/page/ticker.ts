/**
 * One ticker that keeps the page's times current ("3 min ago", lease
 * countdowns), updating only the elements registered with it, once a second.
 * @module
 */

import { el } from './dom.ts';
import { iso, relative } from './time.ts';

const ticking = new Map<Element, () => void>();
let timer: number | undefined;

function tick(): void {
  for (const [element, update] of ticking) {
    if (element.isConnected) update();
    else ticking.delete(element);
  }
  if (ticking.size === 0 && timer !== undefined) {
    window.clearInterval(timer);
    timer = undefined;
  }
}

/** Runs `update` every second while `element` is on the page. */
export function keepCurrent(element: Element, update: () => void): void {
  update();
  ticking.set(element, update);
  timer ??= window.setInterval(tick, 1000);
}

/** A `<time>` that reads "3 min ago", with the exact time for machines and on hover. */
export function timeAgo(at: number): HTMLTimeElement {
  const exact = iso(at);
  const element = el('time', { attrs: { datetime: exact, title: exact } });
  keepCurrent(element, () => {
    element.textContent = relative(at);
  });
  return element;
}
