// Recent service events in words: the ones the service sends (tests/fixtures/events.json
// holds one of each). Unknown event types are shown as they came.
import { h } from "../dom";
import { shortKey } from "../format";
import type { ServiceEvent } from "../types";
import { HEALTH_LABEL } from "./peers";

export interface Logged {
  at: Date;
  event: ServiceEvent;
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
 * happened, and "set" is already told by endpoint-changed. Rejected answers stay.
 */
export function worthShowing(e: ServiceEvent): boolean {
  return e.type !== "decision" || (str(e.reason) ?? "").startsWith("rejected");
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
    case "registry-reachable":
      return `registry ${str(e.registry) ?? "?"} reachable`;
    case "registry-unreachable":
      return `registry ${str(e.registry) ?? "?"} unreachable${reason ? `: ${reason}` : ""}`;
    case "decision":
      return `${peer}: ${reason ?? "decision"}`;
    case "paused":
    case "resumed":
      return `discovery ${e.type}${str(e.iface) ? ` on ${e.iface}` : ""}`;
    case "reloaded":
      return "configuration reloaded";
    case "registry-enabled":
    case "registry-disabled":
      return `registry mode ${e.type === "registry-enabled" ? "enabled" : "disabled"}`;
    default: {
      const { type, ...rest } = e;
      const detail = JSON.stringify(rest);
      return detail === "{}" ? type : `${type} ${detail}`;
    }
  }
}

export function activityPanel(log: Logged[], nameOf: NameOf = () => null): HTMLElement {
  return h(
    "section",
    { class: "card activity", "data-panel": "activity" },
    h("header", { class: "card-head" }, h("h2", null, "Activity")),
    log.length === 0
      ? h("p", { class: "empty" }, "Nothing has happened since the window opened.")
      : h(
          "ol",
          { class: "events" },
          log.map((l) =>
            h(
              "li",
              { "data-event": l.event.type },
              h("time", { class: "muted mono" }, l.at.toLocaleTimeString("en-GB")),
              " ",
              describe(l.event, nameOf),
            ),
          ),
        ),
  );
}
