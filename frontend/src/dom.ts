// A tiny element builder: enough to keep views declarative without a framework.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/**
 * Elements patch() must not merge into another or take over: those h() gave a listener
 * (the listener belongs to the state they were drawn from) and those a view keeps and
 * fills later (see `owned`).
 */
const notMergeable = new WeakSet<Element>();

/** Marks an element its view keeps a hold of and changes later: patch() keeps it whole. */
export function owned<T extends Element>(el: T): T {
  notMergeable.add(el);
  return el;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2).toLowerCase(), v);
      notMergeable.add(el);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Renders text where `backticks` become <code>, as the service writes commands. */
export function richText(text: string): (Node | string)[] {
  return text.split(/(`[^`]+`)/).map((part) =>
    part.startsWith("`") && part.endsWith("`") && part.length > 1 ? h("code", null, part.slice(1, -1)) : part,
  );
}

/**
 * Makes `parent`'s children match `fresh`, keeping every node that is already the same.
 * Replacing the whole page on each status update swapped nodes out from under the
 * pointer, so a click landing during an update was lost. Containers are patched in
 * place; an element with a listener, or one a view owns, is kept only when it is the
 * same or equal, and replaced whole otherwise.
 */
export function patch(parent: Element, fresh: Node[]): void {
  const old = Array.from(parent.childNodes);
  fresh.forEach((node, i) => {
    const current = old[i];
    if (current === undefined) {
      parent.append(node);
    } else if (current === node || current.isEqualNode(node)) {
      // Already right (or the very same node, as the cached settings form is).
    } else if (
      current instanceof Element &&
      node instanceof Element &&
      current.tagName === node.tagName &&
      !notMergeable.has(current) &&
      !notMergeable.has(node)
    ) {
      syncAttributes(current, node);
      patch(current, Array.from(node.childNodes));
    } else {
      parent.replaceChild(node, current);
    }
  });
  for (const extra of old.slice(fresh.length)) extra.remove();
}

function syncAttributes(target: Element, source: Element): void {
  for (const { name } of Array.from(target.attributes)) {
    if (!source.hasAttribute(name)) target.removeAttribute(name);
  }
  for (const { name, value } of Array.from(source.attributes)) {
    if (target.getAttribute(name) !== value) target.setAttribute(name, value);
  }
}
