// Service states the UI tests render, built from the repository's golden status
// document (tests/fixtures/status.json: what the service really sends), so that a
// change to the contract shows up here too.
import { readFileSync } from "node:fs";

const FIXTURES = new URL("../../tests/fixtures/", import.meta.url);
const golden = () => JSON.parse(readFileSync(new URL("status.json", FIXTURES), "utf8"));

/** One of each event the service sends, as it sends them. */
export const events = () => JSON.parse(readFileSync(new URL("events.json", FIXTURES), "utf8"));

/** A peer of the golden status by name, direct and fresh unless `over` says otherwise. */
export function peer(name, over = {}) {
  const base = golden().interfaces[0].peers.find((p) => p.name === name);
  if (!base) throw new Error(`no peer ${name} in tests/fixtures/status.json`);
  const fresh = name === "registry" ? {} : { health: { state: "direct", reason: null }, latest_handshake_age_secs: 14 };
  return { ...base, ...fresh, ...over };
}

/** The golden status with its first interface's peers, pause, registries and registry mode as given. */
export function status({ peers, paused = false, registry = null, registries } = {}) {
  const doc = golden();
  const iface = doc.interfaces[0];
  iface.paused = paused;
  iface.peers = peers ?? [peer("registry"), peer("alice"), peer("bob")];
  iface.registries = registries ?? iface.registries.filter((r) => r.reachable);
  doc.interfaces = [iface];
  doc.registry = registry;
  return doc;
}

export const allDirect = () => status();

export const someNotDirect = () =>
  status({
    peers: [
      peer("registry"),
      peer("alice"),
      peer("bob", {
        endpoint: "203.0.113.9:40000",
        latest_handshake_age_secs: null,
        rx_bytes: 0,
        tx_bytes: 1480,
        health: { state: "not-direct", reason: "no handshake on 203.0.113.9:40000 after 3 tries: bob is probably behind a symmetric NAT" },
      }),
      peer("carol", { health: { state: "stale", reason: "latest handshake 4 min ago" }, latest_handshake_age_secs: 245 }),
    ],
    // Both registries of the golden status: one answering, one timing out.
    registries: golden().interfaces[0].registries,
  });

export const paused = () => status({ paused: true });

export const registryMode = () => status({ registry: golden().registry });

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
});
