// Recent service events in words: the ones the service sends (tests/fixtures/events.json
// holds one of each). Unknown event types are shown as they came. The list is the
// service's recent events, read when the window opens, merged with those that arrive
// live, newest first, each at the time the service says it happened.
import { h } from "../dom";
import { shortKey } from "../format";
import type { ServiceEvent } from "../types";
import { HEALTH_LABEL } from "./peers";

/** As many as the service keeps (`RECENT_EVENTS` in crates/punchwire-control). */
export const MAX_LOG = 200;

export interface Logged {
  at: Date;
  event: ServiceEvent;
  /** The order it was logged in: the tie-break between events of the same millisecond. */
  seq: number;
}

let logged = 0;

/** An event as the list keeps it: at its `at`, or when it was received if it has none. */
export function logEntry(event: ServiceEvent, received: Date = new Date()): Logged {
  const at = typeof event.at === "number" ? new Date(event.at) : received;
  return { at, event, seq: logged++ };
}

/** The same event as seen twice (in the recent list and live): keys sorted, so field order does not matter. */
function identity(e: ServiceEvent): string | null {
  if (typeof e.at !== "number") return null; // without a time, two alike events are two events
  return canonical(e);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** `log` with `more` added: each event once, newest first, at most `MAX_LOG`. */
export function merge(log: Logged[], more: Logged[]): Logged[] {
  const seen = new Set<string>();
  const all = [...log, ...more].filter((l) => {
    const id = identity(l.event);
    if (id === null) return true;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  all.sort((a, b) => b.at.getTime() - a.at.getTime() || b.seq - a.seq);
  return all.slice(0, MAX_LOG);
}

/** The time of day, with the day when it was not today. */
function when(at: Date, now: Date): string {
  const time = at.toLocaleTimeString("en-GB");
  return at.toDateString() === now.toDateString() ? time : `${at.toLocaleDateString("en-GB", { day: "numeric", month: "short" })} ${time}`;
}

function str(v: unknown): string | null {
  return typeof v === "string" && v.length > 0 ? v : null;
}

/** A peer's name from the status the window holds; events carry only keys. */
export type NameOf = (publicKey: string) => string | null;

function who(e: ServiceEvent, nameOf: NameOf): string {
  const peer = str(e.peer);
  return peer ? (nameOf(peer) ?? shortKey(peer)) : "a peer";
}

/**
 * Whether an event belongs in the activity list. The service tells a peer's decision when
 * it changes; the routine ones ("unchanged", "fresh-handshake", ...) would still bury what
 * happened, and "set" is already told by endpoint-changed. Rejected answers stay, and so
 * does the way through a peer's candidates: which one is tried, which won, or that none
 * did and the NAT mapping was set.
 */
const DECISIONS_WORTH_SHOWING = ["rejected", "trying", "direct over", "set its NAT mapping"];

export function worthShowing(e: ServiceEvent): boolean {
  const reason = str(e.reason) ?? "";
  return e.type !== "decision" || DECISIONS_WORTH_SHOWING.some((start) => reason.startsWith(start));
}

export function describe(e: ServiceEvent, nameOf: NameOf = () => null): string {
  const reason = str(e.reason);
  const peer = who(e, nameOf);
  switch (e.type) {
    case "endpoint-changed": {
      const to = str(e.new) ?? "?";
      const from = str(e.old);
      return from ? `${peer}: endpoint ${from} → ${to}` : `${peer}: endpoint set to ${to}`;
    }
    case "peer-health-changed": {
      // The service's words for why (`text`); the state in the same word the table uses.
      const to = str(e.to) ?? "?";
      const text = str(e.text);
      return `${peer} is ${HEALTH_LABEL[to] ?? to}${text ? `: ${text}` : ""}`;
    }
    case "registry-moved": {
      // The registry's endpoint is a name (its wg-quick file says so) that now gives another address.
      const to = str(e.new) ?? "?";
      const from = str(e.old);
      return `${peer} moved: ${str(e.host) ?? "its name"} now gives ${to}${from ? ` (was ${from})` : ""}`;
    }
    case "registry-name-unresolved": {
      const error = str(e.error);
      return `${peer}: cannot resolve ${str(e.host) ?? "its name"}${error ? `: ${error}` : ""}; endpoint kept`;
    }
    case "registry-reachable":
      return `registry ${str(e.registry) ?? "?"} reachable`;
    case "registry-unreachable":
      return `registry ${str(e.registry) ?? "?"} unreachable${reason ? `: ${reason}` : ""}`;
    case "decision":
      return `${peer}: ${reason ?? "decision"}`;
    case "candidates-registered": {
      // This machine's own addresses, registered with a registry for its peers to try.
      const list = Array.isArray(e.candidates) ? e.candidates.map(String).join(", ") : "";
      return `candidates ${list || "(none)"} registered with ${str(e.registry) ?? "?"}`;
    }
    case "candidates-not-registered":
      return `candidates not registered with ${str(e.registry) ?? "?"}: ${str(e.error) ?? "?"}`;
    case "relay-started":
      // No direct path: the peer's traffic goes through the registry peer meanwhile.
      return `${peer} is relayed via the registry: ${str(e.because) ?? "no direct path"}`;
    case "relay-ended":
      return `${peer} has its own addresses back: ${str(e.why) ?? "?"}`;
    case "relay-undone": {
      const n = Array.isArray(e.peers) ? e.peers.length : 0;
      return `relay undone on ${str(e.iface) ?? "?"} (${n} peer${n === 1 ? "" : "s"}): ${str(e.why) ?? "?"}`;
    }
    case "network-changed":
      return `this machine's network changed (${str(e.what) ?? "?"}): every peer looked up again`;
    case "paused":
    case "resumed":
      return `discovery ${e.type}${str(e.iface) ? ` on ${e.iface}` : ""}`;
    case "reloaded":
      return "configuration reloaded";
    case "registry-enabled":
    case "registry-disabled":
      return `registry mode ${e.type === "registry-enabled" ? "enabled" : "disabled"}`;
    default: {
      // `at` is in the line's time already.
      const { type, at: _at, ...rest } = e;
      const detail = JSON.stringify(rest);
      return detail === "{}" ? type : `${type} ${detail}`;
    }
  }
}

/**
 * The list; `history` says whether it starts with the service's recent events (a service
 * older than `recent-events` only has what happened while the window was open).
 */
export function activityPanel(log: Logged[], nameOf: NameOf = () => null, history = true): HTMLElement {
  const now = new Date();
  return h(
    "section",
    { class: "card activity", "data-panel": "activity" },
    h("header", { class: "card-head" }, h("h2", null, "Activity")),
    log.length === 0
      ? h("p", { class: "empty", "data-empty": "activity" }, history ? "Nothing has happened yet." : "Nothing has happened since the window opened.")
      : h(
          "ol",
          { class: "events" },
          log.map((l) =>
            h(
              "li",
              { "data-event": l.event.type, "data-at": l.at.getTime() },
              h("time", { class: "muted mono", datetime: l.at.toISOString() }, when(l.at, now)),
              " ",
              describe(l.event, nameOf),
            ),
          ),
        ),
  );
}
