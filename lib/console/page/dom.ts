/**
 * Building the page's elements. Every string from the API (names, job IDs,
 * holders, actors) reaches the page as text only: children given as strings
 * become text nodes and `text` sets `textContent`; nothing is parsed as HTML.
 * @module
 */

type Child = Node | string | null | undefined | false;

/** Attributes and properties an element may be given; no event-handler attributes, no inline style. */
export interface ElementSpec {
  class?: string;
  text?: string;
  attrs?: Record<string, string | number | boolean | null | undefined>;
}

/** A new `tag` element with `spec` and `children`. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, spec: ElementSpec = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (spec.class !== undefined) element.className = spec.class;
  for (const [name, value] of Object.entries(spec.attrs ?? {})) {
    if (/^on/i.test(name) || name === 'style') throw new Error(`refusing attribute ${name}`);
    if (value === null || value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  if (spec.text !== undefined) element.textContent = spec.text;
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

/** Replaces every child of `parent` with `children`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren(...children.filter((child): child is Node | string => child !== null && child !== undefined && child !== false));
}

/** Tells screen readers (and sighted users, in the corner) what just happened. */
export function announce(message: string): void {
  const region = document.getElementById('announcer');
  if (region === null) return;
  region.textContent = '';
  // A fresh text node after a tick makes screen readers repeat an identical message.
  window.setTimeout(() => {
    region.textContent = message;
  }, 30);
}
