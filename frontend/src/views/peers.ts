// One section per WireGuard interface: its peers, the registries it asks, and how finding
// them went when the configuration left them to be found.
import { h } from "../dom";
import { age, bytes, shortKey } from "../format";
import type { Discovery, InterfaceStatus, PeerStatus, RegistryLink } from "../types";

export const HEALTH_LABEL: Record<string, string> = {
  direct: "direct",
  pending: "pending",
  stale: "stale",
  "not-direct": "not direct",
  registry: "registry",
  relayed: "relayed via registry",
};

const SOURCE_LABEL: Record<string, string> = {
  none: "—",
  registry: "registry",
  static: "static",
  roaming: "roaming",
};

export interface InterfaceActions {
  pause(iface: string): void;
  resume(iface: string): void;
}

export function interfaceSection(iface: InterfaceStatus, actions: InterfaceActions): HTMLElement {
  return h(
    "section",
    { class: "card iface", "data-interface": iface.name },
    h(
      "header",
      { class: "card-head" },
      h("h2", null, iface.name, iface.zone ? h("span", { class: "muted zone" }, iface.zone) : null),
      iface.paused ? h("span", { class: "badge paused" }, "paused") : null,
      h(
        "button",
        {
          class: "btn small",
          "data-action": iface.paused ? "resume-interface" : "pause-interface",
          onclick: () => (iface.paused ? actions.resume(iface.name) : actions.pause(iface.name)),
        },
        iface.paused ? "Resume" : "Pause",
      ),
    ),
    iface.error ? h("p", { class: "inline-error", role: "alert" }, iface.error) : null,
    iface.discovery ? discoveryLine(iface.discovery) : null,
    peersTable(iface),
    registriesTable(iface.registries, iface.discovery !== undefined),
  );
}

/** For an interface configured without its registries or zone: what asking its peers found. */
function discoveryLine(d: Discovery): HTMLElement {
  const text = d.text;
  switch (d.kind) {
    case "found":
      return h("p", { class: "discovery muted", "data-discovery": d.kind }, `found: ${text}`);
    case "looking":
      return h("p", { class: "discovery muted", "data-discovery": d.kind }, text);
    case "not-found":
      return h("p", { class: "discovery inline-error", role: "alert", "data-discovery": d.kind }, text);
  }
}

function peersTable(iface: InterfaceStatus): HTMLElement {
  if (iface.peers.length === 0) {
    return h(
      "p",
      { class: "empty", "data-empty": "peers" },
      `No peers on ${iface.name} yet. Add them with wg or wg-quick (without endpoints for peers behind NAT); Punchwire finds their endpoints.`,
    );
  }
  return h(
    "table",
    { class: "peers" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ["Peer", "Tunnel IPs", "Endpoint", "Source", "Handshake", "Rx / Tx", "Health"].map((t) => h("th", null, t)),
      ),
    ),
    h("tbody", null, iface.peers.map(peerRow)),
  );
}

function peerRow(p: PeerStatus): HTMLElement {
  const state = p.health.state;
  const notDirect = state !== "direct" && state !== "registry";
  return h(
    "tr",
    { "data-peer": p.public_key, "data-health": state },
    h(
      "td",
      { class: "peer-name", title: p.public_key },
      p.name ? h("span", null, p.name) : h("code", null, shortKey(p.public_key)),
    ),
    h("td", { class: "mono" }, p.tunnel_ips.length ? p.tunnel_ips.join(", ") : "—"),
    h("td", { class: "mono endpoint" }, p.endpoint ?? "—"),
    h("td", null, SOURCE_LABEL[p.endpoint_source] ?? p.endpoint_source),
    h("td", null, age(p.latest_handshake_age_secs)),
    h("td", { class: "num" }, `${bytes(p.rx_bytes)} / ${bytes(p.tx_bytes)}`),
    h(
      "td",
      { class: "health" },
      h("span", { class: `badge ${state}` }, HEALTH_LABEL[state] ?? state),
      notDirect && p.health.text ? h("div", { class: "reason" }, p.health.text) : null,
    ),
  );
}

function registriesTable(links: RegistryLink[], discovered: boolean): HTMLElement {
  if (links.length === 0) {
    return h("p", { class: "empty" }, discovered ? "No registry found yet." : "No registries configured for this interface.");
  }
  return h(
    "div",
    { class: "registries" },
    h("h3", null, "Registries"),
    h(
      "table",
      { class: "registry-links" },
      h("thead", null, h("tr", null, ["Registry", "Reachable", "RTT", "Serial", "Last sync"].map((t) => h("th", null, t)))),
      h(
        "tbody",
        null,
        links.map((r) =>
          h(
            "tr",
            { "data-registry": r.address },
            h("td", { class: "mono" }, r.address),
            h(
              "td",
              null,
              r.reachable === null
                ? h("span", { class: "badge pending" }, "not asked yet")
                : r.reachable
                  ? h("span", { class: "badge direct" }, "reachable")
                  : h("span", { class: "badge not-direct" }, "unreachable"),
              r.error ? h("div", { class: "reason" }, r.error) : null,
            ),
            h("td", { class: "num" }, r.rtt_ms === null ? "—" : `${r.rtt_ms.toFixed(1)} ms`),
            h("td", { class: "num" }, r.serial === null ? "—" : String(r.serial)),
            h("td", null, age(r.last_sync_age_secs)),
          ),
        ),
      ),
    ),
  );
}
