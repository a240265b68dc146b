/**
 * Building the page. Every text that came from a user or a server goes in as a text node
 * (`textContent`), never as markup: there is no `innerHTML` anywhere in the client, so a
 * message like `<img src=x onerror=...>` is shown as the characters it is.
 */

export type Child = Node | string | false | null | undefined;

type Attributes = Record<string, string | number | boolean | undefined>;

/** `h('button', { class: 'x', type: 'button' }, 'Send')`: an element with text children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    // The CSP refuses inline styles and handlers anyway; this says so where the bug is.
    if (name === 'style' || /^on/i.test(name)) throw new Error(`h(): no ${name} attribute (CSP)`);
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** The element with this id, or an error naming it (the page's own markup is at fault). */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`#${id} is missing`);
  return el;
}
