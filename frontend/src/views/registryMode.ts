// This machine as a registry: what it serves, and the switch.
import { h } from "../dom";
import { count } from "../format";
import type { RegistryModeStatus } from "../types";

export interface RegistryModeActions {
  enable(): void;
  disable(): void;
}

export function registryModePanel(r: RegistryModeStatus, actions: RegistryModeActions): HTMLElement {
  const stat = (label: string, value: string, name: string) =>
    h("div", { class: "stat", "data-stat": name }, h("div", { class: "stat-value" }, value), h("div", { class: "stat-label" }, label));
  return h(
    "section",
    { class: "card registry-mode", "data-panel": "registry-mode" },
    h(
      "header",
      { class: "card-head" },
      h("h2", null, "Registry mode", h("span", { class: "muted zone" }, `${r.zone} on ${r.device}`)),
      h("span", { class: `badge ${r.enabled ? "direct" : "paused"}` }, r.enabled ? "serving" : "disabled"),
      h(
        "button",
        {
          class: "btn small",
          "data-action": r.enabled ? "registry-disable" : "registry-enable",
          onclick: () => (r.enabled ? actions.disable() : actions.enable()),
        },
        r.enabled ? "Disable" : "Enable",
      ),
    ),
    r.error ? h("p", { class: "inline-error", role: "alert" }, r.error) : null,
    h(
      "div",
      { class: "stats" },
      stat("peers served", count(r.peers_served), "peers-served"),
      stat("queries", count(r.queries), "queries"),
      stat("refusals", count(r.refusals), "refusals"),
    ),
    h("p", { class: "muted small" }, "Listening on ", h("span", { class: "mono" }, r.listen.length ? r.listen.join(", ") : "the device's tunnel addresses, port 53")),
  );
}
