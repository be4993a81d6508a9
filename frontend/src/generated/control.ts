// Generated from crates/punchwire-control by its `typescript` test: do not edit.
// Regenerate: PUNCHWIRE_WRITE_TS=1 cargo test -p punchwire-control typescript

export type ServiceStatus = { 
/**
 * The service's version, e.g. "0.1.0".
 */
version: string, config_path: string, 
/**
 * The one-glance verdict the tray icon and the window's header show, worded once
 * by the service so that every client says the same.
 */
summary: Summary, interfaces: Array<InterfaceStatus>, 
/**
 * Present when this machine serves as a registry.
 */
registry: RegistryModeStatus | null, 
/**
 * The WireGuard interfaces the service can see that no `[[interface]]` names (the
 * registry's own device aside), each with what asking its peers found. (Empty: a
 * service older than the field.)
 */
unconfigured: Array<UnconfiguredInterface>, 
/**
 * The zone to propose for registry mode; present while no `[registry]` is
 * configured.
 */
proposed_registry_zone?: string, };

/**
 * The whole mesh at a glance: its state and the sentence that says it.
 */
export type Summary = { state: SummaryState, 
/**
 * "All 3 peers direct", "The peer is direct", "1 of 2 peers direct", ...
 */
text: string, };

export type SummaryState = "all-direct" | "some-not-direct" | "paused" | "no-peers";

export type InterfaceStatus = { name: string, 
/**
 * The zone asked, configured or discovered; empty while it is still being looked for.
 */
zone: string, paused: boolean, 
/**
 * Why the interface cannot be read right now, if it cannot (e.g. it is down).
 */
error: string | null, peers: Array<PeerStatus>, registries: Array<RegistryLink>, 
/**
 * Present when the configuration left the registries or the zone out: how finding
 * them among the peers went (RFC 6763 §11 enumeration over the tunnel).
 */
discovery?: Discovery, };

export type PeerStatus = { 
/**
 * The peer's WireGuard public key, in base64 as `wg show` prints it.
 */
public_key: string, 
/**
 * A human name where one is configured.
 */
name: string | null, tunnel_ips: string[], endpoint: string | null, endpoint_source: EndpointSource, latest_handshake_age_secs: number | null, rx_bytes: number, tx_bytes: number, health: Health, 
/**
 * The discovery engine's latest word on this peer, e.g. "fresh-handshake".
 */
last_decision: string | null, 
/**
 * When that word is a rejection, its kind (`last_decision` has it in words).
 * Absent otherwise, and from a service older than the field.
 */
last_rejection?: Rejection, };

/**
 * One reason an answer was not used. Addresses are the ones the answer named, IPv4
 * ones already unwrapped from their IPv4-mapped IPv6 form.
 */
export type Rejection = { "kind": "unusable-answer", why: string, } | { "kind": "not-our-peer", key: string, } | { "kind": "other-peer", asked: string, record: string, } | { "kind": "port-zero", addr: string, } | { "kind": "unspecified", ip: string, } | { "kind": "loopback", ip: string, } | { "kind": "link-local", ip: string, } | { "kind": "multicast", ip: string, } | { "kind": "broadcast", ip: string, } | { "kind": "reserved", ip: string, } | { "kind": "own-address", ip: string, } | { "kind": "inside-tunnel", ip: string, range: string, };

/**
 * Where a peer's current endpoint came from.
 */
export type EndpointSource = "none" | "registry" | "static" | "roaming";

/**
 * A peer's health as the discovery engine judged it: the state, the typed reason for
 * it, and that reason in words (`text`, the reason's [`fmt::Display`]), so that every
 * client says the same thing without re-wording it.
 */
export type Health = { state: HealthState, reason: HealthReason, text: string, };

/**
 * Why a peer is in its state; serialized with a `kind` tag, in kebab-case.
 */
export type HealthReason = { "kind": "fresh-handshake", age_secs: number, } | { "kind": "waiting-for-handshake", endpoint: string, set_secs_ago: number, } | { "kind": "no-handshake-after-set", endpoint: string, } | { "kind": "handshake-old", age_secs: number, } | { "kind": "no-endpoint", decision: string | null, } | { "kind": "no-handshake-yet", decision: string | null, } | { "kind": "registry-peer" } | { "kind": "relayed-via-registry", because: string, since_secs: number, };

export type HealthState = "direct" | "pending" | "stale" | "not-direct" | "registry" | "relayed";

export type RegistryLink = { address: string, 
/**
 * `None` until it has been asked.
 */
reachable: boolean | null, rtt_ms: number | null, serial: number | null, last_sync_age_secs: number | null, error: string | null, };

export type RegistryModeStatus = { enabled: boolean, zone: string, device: string, listen: string[], peers_served: number, queries: number, refusals: number, error: string | null, 
/**
 * Queries and TCP connections from sources outside every peer's AllowedIPs, dropped
 * unanswered. (Default: a service older than the field.)
 */
strangers_dropped: number, 
/**
 * UDP responses held back because their source asked faster than its rate.
 */
rate_limited: number, 
/**
 * TCP connections closed at once because the registry's cap was reached.
 */
tcp_refused: number, };

/**
 * A WireGuard interface the service can see that its configuration does not name.
 */
export type UnconfiguredInterface = { name: string, 
/**
 * How many peers it has.
 */
peers: number, 
/**
 * What asking its peers found: with `found`, adding `[[interface]] name = "<name>"`
 * alone keeps its peers direct.
 */
discovery: Discovery, };

/**
 * How asking the peers' tunnel addresses for their zone (RFC 6763 §11) went, with
 * `text`, the one line every client shows, so that none of them words it anew.
 */
export type Discovery = { "kind": "looking", text: string, } | { "kind": "found", registries: string[], zone: string, text: string, } | { "kind": "not-found", text: string, };

export type Request = { v: number, id: number, } & ({ "cmd": "status" } | { "cmd": "hello" } | { "cmd": "subscribe" } | { "cmd": "recent-events" } | { "cmd": "pause", interface?: string, } | { "cmd": "resume", interface?: string, } | { "cmd": "reload" } | { "cmd": "registry-enable" } | { "cmd": "registry-disable" } | { "cmd": "get-config" } | { "cmd": "set-config", config: unknown, 
/**
 * The `revision` of the `get-config` this change was based on: when the file
 * has changed since, the change is refused with `conflict`.
 */
revision: string, });

/**
 * Everything a client can ask.
 */
export type Command = { "cmd": "status" } | { "cmd": "hello" } | { "cmd": "subscribe" } | { "cmd": "recent-events" } | { "cmd": "pause", interface?: string, } | { "cmd": "resume", interface?: string, } | { "cmd": "reload" } | { "cmd": "registry-enable" } | { "cmd": "registry-disable" } | { "cmd": "get-config" } | { "cmd": "set-config", config: unknown, 
/**
 * The `revision` of the `get-config` this change was based on: when the file
 * has changed since, the change is refused with `conflict`.
 */
revision: string, };

/**
 * The answer to `hello`.
 */
export type Hello = { 
/**
 * The protocol version spoken, [`VERSION`].
 */
protocol: number, 
/**
 * The service's own version, e.g. "0.1.0".
 */
service: string, 
/**
 * The `cmd` names this service understands.
 */
commands: Array<string>, };

export type Response = { v: number, 
/**
 * The request's id; 0 when the request was too broken to have one.
 */
id: number, ok: boolean, result?: unknown, error?: ErrorBody, };

export type ErrorBody = { code: ErrorCode, message: string, 
/**
 * For `invalid-config`: the dotted key at fault (`interface[0].zone`), when one is.
 */
key?: string, };

export type ErrorCode = "bad-request" | "too-large" | "permission-denied" | "failed" | "lagged" | "invalid-config" | "conflict";

/**
 * A pushed event on a subscribed connection.
 */
export type EventFrame = { v: number, event: unknown, };

/**
 * The body of a `registry-moved` event.
 */
export type RegistryMoved = { iface: string, 
/**
 * The registry peer's public key, base64.
 */
peer: string, 
/**
 * The peer's configured name, where there is one.
 */
name?: string, 
/**
 * The endpoint's name as the wg-quick file gives it, e.g. `home.example.net:51820`.
 */
host: string, old: string | null, new: string, };

/**
 * The body of a `registry-name-unresolved` event.
 */
export type RegistryNameUnresolved = { iface: string, peer: string, name?: string, host: string, error: string, };

/**
 * The body of a `relay-started` event.
 */
export type RelayStarted = { iface: string, 
/**
 * The peer's public key, base64.
 */
peer: string, name?: string, 
/**
 * Why the peer is not direct, in the words of its health.
 */
because: string, };

/**
 * The body of a `relay-ended` event.
 */
export type RelayEnded = { iface: string, peer: string, name?: string, 
/**
 * Why: "a direct handshake completed", or "the peer was removed from the interface".
 */
why: string, };
