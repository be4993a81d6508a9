// Service states the UI tests render, in the shape of the service's `status` document.
// `golden` is the fixture shared with the service's, the CLI's, the tray's and the fake
// service's tests (tests/fixtures/ at the repository root): a status document with one
// peer in each health state, and one of each event the service sends.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const read = (name) => JSON.parse(readFileSync(fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url)), "utf8"));
export const golden = () => ({ status: read("status.json"), events: read("events.json") });
export const events = () => golden().events;

const KEYS = {
  alice: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
  bob: "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=",
  carol: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
  registry: "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=",
};

export function peer(name, over = {}) {
  const base = {
    public_key: KEYS[name],
    name,
    tunnel_ips: [{ alice: "10.99.0.2/32", bob: "10.99.0.3/32", carol: "10.99.0.4/32", registry: "10.99.0.1/32" }[name]],
    endpoint: { alice: "198.51.100.7:41234", bob: "203.0.113.9:51820", carol: "198.51.100.22:60001", registry: "192.0.2.10:51820" }[name],
    endpoint_source: name === "registry" ? "static" : "registry",
    latest_handshake_age_secs: 14,
    rx_bytes: 1_482_113,
    tx_bytes: 922_004,
    health:
      name === "registry"
        ? { state: "registry", reason: { kind: "registry-peer" }, text: "the registry peer: its endpoint is configured, not discovered" }
        : { state: "direct", reason: { kind: "fresh-handshake", age_secs: 14 }, text: "handshake 14 s ago" },
    last_decision: "fresh-handshake",
  };
  return { ...base, ...over };
}

/** The service's summary is the service's: a fixture states it (the default fits the
 * default peers, or a paused interface). */
export function status({ peers, paused = false, registry = null, registries, summary } = {}) {
  return {
    version: "0.1.0",
    config_path: "/etc/punchwire/config.toml",
    summary: summary ?? (paused ? { state: "paused", text: "Discovery paused" } : { state: "all-direct", text: "All 2 peers direct" }),
    interfaces: [
      {
        name: "wg0",
        zone: "example.com.",
        paused,
        error: null,
        peers: peers ?? [peer("registry"), peer("alice"), peer("bob")],
        registries: registries ?? [
          { address: "10.99.0.1:53", reachable: true, rtt_ms: 3.4, serial: 2024112407, last_sync_age_secs: 1, error: null },
        ],
      },
    ],
    registry,
    unconfigured: [],
  };
}

export const allDirect = () => status();

/** What asking an interface's peers for their registry came to, as the service reports it. */
// Each `text` is what the service words for it (crates/punchwire-control/src/setup.rs tests).
export const found = (registries = ["10.99.0.1:53"], zone = "example.com.", text = "registry 10.99.0.1, zone example.com.") => ({
  kind: "found",
  registries,
  zone,
  text,
});
export const looking = () => ({ kind: "looking", text: "looking for a registry among the peers…" });
export const notFound = (
  text = "no registry answered: asked the tunnel addresses of 3 peers (10.99.0.1, 10.99.0.2, 10.99.0.3) for their zone; none answered within 2 s",
) => ({ kind: "not-found", text });

/** A machine whose configuration names no interface yet: what the window shows first. */
export function firstRun(unconfigured = [{ name: "wg0", peers: 3, discovery: found() }]) {
  return {
    ...status(),
    summary: { state: "no-peers", text: "No peers yet" },
    interfaces: [],
    unconfigured,
    proposed_registry_zone: "punchwire.home.arpa.",
  };
}

/** The first run once wg0 was enabled: configured by its name alone, its zone and registry found. */
export function enabled() {
  const s = status({ summary: { state: "all-direct", text: "All 2 peers direct" } });
  s.interfaces[0].discovery = found();
  s.unconfigured = [];
  s.proposed_registry_zone = "punchwire.home.arpa.";
  return s;
}

/** One peer in each health state: the shared golden status. */
export const someNotDirect = () => golden().status;

export const paused = () => status({ paused: true });

export const registryMode = () =>
  status({
    registry: {
      enabled: true,
      zone: "example.com.",
      device: "wg0",
      listen: ["10.99.0.1:53"],
      peers_served: 12,
      queries: 48213,
      refusals: 7,
      error: null,
    },
  });

export const notRunning = {
  kind: "not-running",
  message:
    "the Punchwire service is not running (no control socket at /run/punchwire/control.sock); start it with `sudo systemctl start punchwire` or `sudo punchwire service`",
};

export const notInGroup = {
  kind: "permission-denied",
  message:
    "permission denied on /run/punchwire/control.sock: you are not in the punchwire group (add yourself with `sudo usermod -aG punchwire $USER` and log in again)",
};

export const config = () => ({
  path: "/etc/punchwire/config.toml",
  config: {
    control: { socket: "/run/punchwire/control.sock", group: "punchwire" },
    interface: [
      {
        name: "wg0",
        zone: "example.com.",
        registries: ["10.99.0.1:53", "10.98.0.1:53"],
        interval: "30s",
        poll: "1s",
        handshake_threshold: "2m 30s",
        paused: false,
      },
    ],
    registry: null,
  },
  revision: "rev-1",
  defaults: { interval: "30s", poll: "1s", handshake_threshold: "2m 30s" },
});
