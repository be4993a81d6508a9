// The one-glance state the header (and the tray icon, on the Rust side) shows.
import type { PeerStatus, ServiceStatus } from "./types";

export type Overall = "all-direct" | "some-not-direct" | "paused" | "no-peers";

/** Peers whose direct path matters: the registry peer is reached by its public address. */
export function meshPeers(status: ServiceStatus): PeerStatus[] {
  return status.interfaces.flatMap((i) => i.peers).filter((p) => p.health.state !== "registry");
}

export function overall(status: ServiceStatus): Overall {
  const ifaces = status.interfaces;
  if (ifaces.length > 0 && ifaces.every((i) => i.paused)) return "paused";
  const peers = meshPeers(status);
  if (peers.length === 0) return "no-peers";
  return peers.every((p) => p.health.state === "direct") ? "all-direct" : "some-not-direct";
}

export function overallText(status: ServiceStatus): string {
  const peers = meshPeers(status);
  const direct = peers.filter((p) => p.health.state === "direct").length;
  switch (overall(status)) {
    case "paused":
      return "Discovery paused";
    case "no-peers":
      return "No peers yet";
    case "all-direct":
      return peers.length === 1 ? "The peer is direct" : `All ${peers.length} peers direct`;
    case "some-not-direct":
      return `${direct} of ${peers.length} peers direct`;
  }
}
