// The service's `status` document (crates/punchwire-control/src/status.rs), as the
// Rust side of the app forwards it. Fields are only ever added within protocol v1, so
// everything here is read defensively.

export type HealthState = "direct" | "pending" | "stale" | "not-direct" | "registry";
export type EndpointSource = "none" | "registry" | "static" | "roaming";

/**
 * Why a peer is in its state, typed by `kind` (fresh-handshake, waiting-for-handshake,
 * no-handshake-after-set, handshake-old, no-endpoint, no-handshake-yet, registry-peer)
 * with its facts. The window shows `Health.text`, the service's words for it.
 */
export interface HealthReason {
  kind: string;
  [fact: string]: unknown;
}

/** A peer's health as the service judged it; `text` is the reason in words. */
export interface Health {
  state: HealthState;
  reason: HealthReason;
  text: string;
}

export type SummaryState = "all-direct" | "some-not-direct" | "paused" | "no-peers";

/** The service's one-glance verdict on the whole mesh, and its sentence. */
export interface Summary {
  state: SummaryState;
  text: string;
}

export interface PeerStatus {
  public_key: string;
  name: string | null;
  tunnel_ips: string[];
  endpoint: string | null;
  endpoint_source: EndpointSource;
  latest_handshake_age_secs: number | null;
  rx_bytes: number;
  tx_bytes: number;
  health: Health;
  last_decision: string | null;
}

export interface RegistryLink {
  address: string;
  reachable: boolean | null;
  rtt_ms: number | null;
  serial: number | null;
  last_sync_age_secs: number | null;
  error: string | null;
}

export interface InterfaceStatus {
  name: string;
  zone: string;
  paused: boolean;
  error: string | null;
  peers: PeerStatus[];
  registries: RegistryLink[];
}

export interface RegistryModeStatus {
  enabled: boolean;
  zone: string;
  device: string;
  listen: string[];
  peers_served: number;
  queries: number;
  refusals: number;
  error: string | null;
}

export interface ServiceStatus {
  version: string;
  config_path: string;
  summary: Summary;
  interfaces: InterfaceStatus[];
  registry: RegistryModeStatus | null;
}

/** How the app's Rust side reports a failure (the rejection value of every command). */
export interface AppError {
  /** not-running | permission-denied | unreachable | refused | unsupported | invalid-config | conflict | protocol */
  kind: string;
  message: string;
  /** For invalid-config: the dotted key the service named, e.g. `interface[0].zone`. */
  key?: string | null;
}

/** Payload of `punchwire://connection`. */
export type Connection = { state: "up" } | { state: "down"; error: AppError };

/** A service event (`punchwire://event`): always has a `type`; the rest depends on it. */
export interface ServiceEvent {
  type: string;
  [field: string]: unknown;
}

/** The settings the app edits: the service's configuration in its JSON form. */
export interface InterfaceConfig {
  name: string;
  zone: string;
  registries: string[];
  interval: string;
  poll: string;
  handshake_threshold: string;
  paused?: boolean;
  [other: string]: unknown;
}

export interface ServiceConfig {
  interface: InterfaceConfig[];
  [other: string]: unknown;
}

export interface ConfigDocument {
  path: string;
  config: ServiceConfig;
  /** The file's revision: handed back with set_config, which refuses a stale one (`conflict`). */
  revision: string;
  /** What the service uses for the keys left out, e.g. `{ interval: "30s" }`. */
  defaults?: Partial<Record<"interval" | "poll" | "handshake_threshold", string>>;
}

/** The app's own preferences, kept in its config directory (not the service's). */
export interface AppSettings {
  notifications: boolean;
}
