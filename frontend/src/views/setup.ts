// Setting Punchwire up from the window: the WireGuard interfaces the configuration does
// not name yet, each with what asking its peers found and one button; serving as a
// registry; and what to do when there is no WireGuard interface at all.
import { h, richText } from "../dom";
import type { ServiceStatus, UnconfiguredInterface } from "../types";

/** The set-up a user started and how it went, by `interfaceKey` or `REGISTRY_KEY`. */
export interface SetupProgress {
  busy: string | null;
  errors: Map<string, string>;
}

export const REGISTRY_KEY = "registry";
export const interfaceKey = (name: string) => `interface:${name}`;

export interface SetupActions {
  enableInterface(name: string): void;
  enableRegistry(device: string, zone: string): void;
}

function peersCount(n: number): string {
  return n === 0 ? "no peers" : n === 1 ? "1 peer" : `${n} peers`;
}

/** The error of the set-up started from this card, where the user clicked. */
function errorFor(key: string, progress: SetupProgress): HTMLElement | null {
  const error = progress.errors.get(key);
  return error ? h("p", { class: "inline-error", role: "alert", "data-error": "setup" }, ...richText(error)) : null;
}

function unconfiguredCard(iface: UnconfiguredInterface, progress: SetupProgress, actions: SetupActions): HTMLElement {
  const d = iface.discovery;
  const key = interfaceKey(iface.name);
  const busy = progress.busy === key;
  const found = d.kind === "found";
  const discovery =
    d.kind === "found"
      ? h("p", { class: "discovery" }, `${d.text} — keep this interface's peers direct`)
      : d.kind === "looking"
        ? h("p", { class: "discovery muted" }, d.text)
        : h(
            "div",
            null,
            h("p", { class: "discovery inline-error", role: "alert" }, d.text),
            h("p", { class: "muted small" }, "Punchwire keeps asking by itself: a registry that comes up later is found."),
          );
  return h(
    "article",
    { class: "setup-iface", "data-unconfigured": iface.name, "data-discovery": d.kind },
    h("div", { class: "setup-text" }, h("h3", { class: "setup-name" }, iface.name, h("span", { class: "muted small" }, peersCount(iface.peers))), discovery, errorFor(key, progress)),
    h(
      "button",
      {
        class: `btn${found ? " primary" : ""}`,
        "data-action": "enable-interface",
        "data-iface": iface.name,
        disabled: !found || progress.busy !== null,
        onclick: () => actions.enableInterface(iface.name),
      },
      busy ? "Enabling…" : "Enable",
    ),
  );
}

/** The interfaces not configured yet; `first`: nothing is configured, so this is the first run. */
export function setupPanel(list: UnconfiguredInterface[], first: boolean, progress: SetupProgress, actions: SetupActions): HTMLElement {
  return h(
    "section",
    { class: "card setup", "data-panel": "setup" },
    h("header", { class: "card-head" }, h("h2", null, first ? "Set up Punchwire" : "More WireGuard interfaces")),
    h(
      "p",
      { class: "muted" },
      first
        ? "Punchwire found these WireGuard interfaces. Enable one and Punchwire keeps its peers' endpoints current, so that they connect to each other directly."
        : "Punchwire does not look after these WireGuard interfaces yet.",
    ),
    list.map((iface) => unconfiguredCard(iface, progress, actions)),
  );
}

/** Every WireGuard interface the service sees: configured ones, then the others. */
export function wireguardInterfaces(s: ServiceStatus): string[] {
  return [...s.interfaces.map((i) => i.name), ...(s.unconfigured ?? []).map((i) => i.name)];
}

/**
 * Serving as a registry: the device and the zone, proposed by the service. The fields
 * carry no listeners, so a redraw keeps what the user chose or typed (dom.ts `patch`
 * keeps equal nodes); the button reads them when clicked.
 */
export function registrySetupCard(devices: string[], proposedZone: string, progress: SetupProgress, actions: SetupActions): HTMLElement {
  const busy = progress.busy === REGISTRY_KEY;
  const serve = (ev: Event) => {
    // The button submits the form (Enter in the zone field too): no page load.
    ev.preventDefault();
    const card = (ev.currentTarget as HTMLElement).closest('[data-panel="registry-setup"]')!;
    const device = card.querySelector<HTMLSelectElement>('select[name="device"]')!.value;
    const zone = card.querySelector<HTMLInputElement>('input[name="zone"]')!.value.trim();
    actions.enableRegistry(device, zone);
  };
  return h(
    "section",
    { class: "card registry-setup", "data-panel": "registry-setup" },
    h("header", { class: "card-head" }, h("h2", null, "Serve as the registry")),
    h(
      "p",
      { class: "muted" },
      "One machine of a mesh, with a public address (a home server, a VPS), serves as its registry: every peer keeps a tunnel to it, and it tells them where the others are. Its peers find it by themselves.",
    ),
    h(
      "form",
      { class: "setup-form" },
      h(
        "div",
        { class: "field" },
        h("label", { for: "registry-device" }, "WireGuard interface its peers reach it on"),
        h("select", { id: "registry-device", name: "device" }, devices.map((d) => h("option", { value: d }, d))),
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: "registry-zone" }, "Zone"),
        h("input", { id: "registry-zone", name: "zone", type: "text", spellcheck: "false", value: proposedZone }),
        h("div", { class: "hint muted" }, "The DNS-SD zone it serves. The proposal suits a home network; any domain of yours works too."),
      ),
      errorFor(REGISTRY_KEY, progress),
      h(
        "div",
        { class: "form-actions" },
        h(
          "button",
          { class: "btn primary", type: "submit", "data-action": "serve-as-registry", disabled: progress.busy !== null, onclick: serve },
          busy ? "Starting…" : "Serve as registry",
        ),
      ),
    ),
  );
}

/** No WireGuard interface on this machine, or (from a service older than `unconfigured`) none configured. */
export function noInterfaceState(s: ServiceStatus): HTMLElement {
  if (s.unconfigured === undefined) {
    return h(
      "section",
      { class: "card", "data-empty": "interfaces" },
      h("h2", null, "No interfaces configured"),
      h("p", null, "Add an ", h("code", null, "[[interface]]"), " to ", h("code", null, s.config_path), " and run ", h("code", null, "punchwire reload"), "."),
    );
  }
  return h(
    "section",
    { class: "card", "data-empty": "interfaces" },
    h("h2", null, "No WireGuard interface on this machine"),
    h(
      "p",
      null,
      "Punchwire keeps the peers of a WireGuard interface connected directly, and this machine has none yet. Create one with ",
      h("code", null, "wg-quick up wg0"),
      " or your VPN client: Punchwire offers to set it up here as soon as it exists.",
    ),
  );
}
