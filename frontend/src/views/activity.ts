// Recent service events in words. Unknown event types are shown as they came.
import { h } from "../dom";
import { shortKey } from "../format";
import type { ServiceEvent } from "../types";

export interface Logged {
  at: Date;
  event: ServiceEvent;
}

function str(v: unknown): string | null {
  return typeof v === "string" && v.length > 0 ? v : null;
}

function who(e: ServiceEvent): string {
  const peer = str(e.peer) ?? str(e.public_key);
  return str(e.name) ?? (peer ? shortKey(peer) : "a peer");
}

export function describe(e: ServiceEvent): string {
  const reason = str(e.reason);
  switch (e.type) {
    case "endpoint-changed": {
      const to = str(e.to) ?? str(e.endpoint) ?? "?";
      const from = str(e.from);
      return from ? `${who(e)}: endpoint ${from} → ${to}` : `${who(e)}: endpoint set to ${to}`;
    }
    case "peer-direct":
      return `${who(e)} is direct`;
    case "peer-stale":
      return `${who(e)}: handshake is stale${reason ? ` (${reason})` : ""}`;
    case "peer-not-direct":
      return `${who(e)} is not direct${reason ? `: ${reason}` : ""}`;
    case "registry-reachable":
      return `registry ${str(e.registry) ?? str(e.address) ?? ""} reachable`.replace("  ", " ");
    case "registry-unreachable":
      return `registry ${str(e.registry) ?? str(e.address) ?? ""} unreachable${str(e.error) ? `: ${e.error}` : ""}`;
    case "decision":
      return `${who(e)}: ${str(e.decision) ?? "decision"}${reason ? ` (${reason})` : ""}`;
    default: {
      const { type, ...rest } = e;
      const detail = JSON.stringify(rest);
      return detail === "{}" ? type : `${type} ${detail}`;
    }
  }
}

export function activityPanel(log: Logged[]): HTMLElement {
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
              describe(l.event),
            ),
          ),
        ),
  );
}
