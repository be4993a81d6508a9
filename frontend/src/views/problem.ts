// The whole-window state when the service cannot be used: what is wrong, what to do.
import { h, richText } from "../dom";
import type { AppError } from "../types";

const TITLE: Record<string, string> = {
  "not-running": "The Punchwire service is not running",
  "permission-denied": "You are not in the punchwire group",
  unsupported: "The service is too old for this app",
  protocol: "The service answered something unexpected",
};

export function problemState(err: AppError, retry: () => void): HTMLElement {
  return h(
    "section",
    { class: "card problem", role: "alert", "data-problem": err.kind },
    h("div", { class: `problem-icon ${err.kind}`, "aria-hidden": "true" }, "!"),
    h("h2", null, TITLE[err.kind] ?? "Cannot reach the Punchwire service"),
    h("p", { class: "problem-message" }, ...richText(sentence(err.message))),
    h("p", { class: "muted small" }, "This window reconnects by itself when the service comes back."),
    h("button", { class: "btn", "data-action": "retry", onclick: retry }, "Try again now"),
  );
}

export function connectingState(): HTMLElement {
  return h("section", { class: "card problem", "data-problem": "connecting" }, h("p", { class: "muted" }, "Connecting to the Punchwire service…"));
}

/** The service writes errors in lower case, to be embedded; here one stands alone. */
function sentence(message: string): string {
  return message.charAt(0).toUpperCase() + message.slice(1);
}
