/// <reference lib="dom" />
/**
 * Times as the console shows them: "3 min ago" with the exact ISO time in
 * `<time datetime>` and its `title`, and lease countdowns, all kept current by
 * one ticker that updates only the elements registered with it.
 * @module
 */

import { el } from './dom.ts';

/** Now, in Unix seconds. */
export function nowSeconds(): number {
  return Date.now() / 1000;
}

/** "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago"; "in …" for the future. */
export function relative(at: number, now = nowSeconds()): string {
  const delta = Math.round(now - at);
  const ahead = delta < 0;
  const size = Math.abs(delta);
  if (size < 5) return 'just now';
  const amount =
    size < 60
      ? `${size} s`
      : size < 3600
        ? `${Math.floor(size / 60)} min`
        : size < 86_400
          ? `${Math.floor(size / 3600)} h`
          : `${Math.floor(size / 86_400)} d`;
  return ahead ? `in ${amount}` : `${amount} ago`;
}

/** The exact time, ISO 8601 in UTC. */
export function iso(at: number): string {
  return new Date(at * 1000).toISOString().replace('.000Z', 'Z');
}

const CLOCK = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });

/** A wall-clock time such as 12:03:10, in the viewer's time zone. */
export function clock(at: number): string {
  return CLOCK.format(new Date(at * 1000));
}

/** "expires in 42 s" / "expires in 1 min 05 s" / "expired 3 min ago". */
export function countdown(expiresAt: number, now = nowSeconds()): string {
  const left = Math.ceil(expiresAt - now);
  if (left <= 0) return `expired ${relative(expiresAt, now)}`;
  if (left < 60) return `expires in ${left} s`;
  const minutes = Math.floor(left / 60);
  return `expires in ${minutes} min ${String(left % 60).padStart(2, '0')} s`;
}

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
