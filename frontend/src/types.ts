// The service's contract (the `status` document, the protocol) comes generated from the
// Rust types in crates/punchwire-control: see src/generated/control.ts and README.md.
// Fields are only ever added within protocol v1, so everything is read defensively.
export type {
  Discovery,
  EndpointSource,
  ErrorCode,
  Health,
  HealthReason,
  HealthState,
  Hello,
  InterfaceStatus,
  PeerStatus,
  RegistryLink,
  RegistryModeStatus,
  ServiceStatus,
  Summary,
  SummaryState,
  UnconfiguredInterface,
} from "./generated/control";

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

/**
 * A service event (`punchwire://event`, and each of `recent_events`): always has a
 * `type`; `at` (milliseconds since the Unix epoch) from services that send it; the rest
 * depends on the type.
 */
export interface ServiceEvent {
  type: string;
  at?: number;
  [field: string]: unknown;
}

/**
 * The settings the app edits: the service's configuration in its JSON form. An
 * interface without `zone` or `registries` has them found among its peers.
 */
export interface InterfaceConfig {
  name: string;
  zone?: string;
  registries?: string[];
  interval: string;
  poll: string;
  handshake_threshold: string;
  paused?: boolean;
  /** Left out: on. */
  candidates?: boolean;
  /** Left out: off. */
  relay?: boolean;
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
