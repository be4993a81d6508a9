// The window: state from the app's events, drawn whole on each change and patched into
// the page (dom.ts `patch`), so that only what changed is replaced. `main` and the
// settings form are long-lived nodes that a redraw never moves: moving a node out of the
// page, even for an instant, takes the keyboard focus from the field being typed in.
import "./style.css";
import { api, subscribe } from "./api";
import { h, patch } from "./dom";
import { activityPanel, logEntry, merge, worthShowing, type Logged } from "./views/activity";
import { interfaceSection } from "./views/peers";
import { connectingState, problemState } from "./views/problem";
import { registryModePanel } from "./views/registryMode";
import { settingsView } from "./views/settings";
import {
  REGISTRY_KEY,
  interfaceKey,
  noInterfaceState,
  registrySetupCard,
  setupPanel,
  wireguardInterfaces,
  type SetupActions,
  type SetupProgress,
} from "./views/setup";
import { overall, overallText } from "./summary";
import type { AppError, ServiceEvent, ServiceStatus } from "./types";

type Tab = "peers" | "settings";

const state = {
  connection: "connecting" as "connecting" | "up" | AppError,
  status: null as ServiceStatus | null,
  log: [] as Logged[],
  /** Whether the log starts with the service's recent events (false: a service without them). */
  history: true,
  tab: "peers" as Tab,
  actionError: null as string | null,
  setup: { busy: null, errors: new Map() } as SetupProgress,
};

const app = document.getElementById("app")!;
const main = h("main", null);
let settings: HTMLElement | null = null;

async function refresh() {
  try {
    state.status = await api.status();
    state.connection = "up";
  } catch (e) {
    state.connection = e as AppError;
    state.status = null;
  }
  render();
}

/** Runs a user action; the status it causes arrives as an event, but re-read once anyway. */
async function act(action: () => Promise<void>) {
  state.actionError = null;
  try {
    await action();
    await refresh();
  } catch (e) {
    state.actionError = (e as AppError).message;
    render();
  }
}

/** Runs a set-up; its outcome shows on the card it was started from. */
async function setUp(key: string, action: () => Promise<void>) {
  state.setup.busy = key;
  state.setup.errors.delete(key);
  render();
  try {
    await action();
    state.setup.busy = null;
    await refresh();
  } catch (e) {
    state.setup.busy = null;
    state.setup.errors.set(key, (e as AppError).message);
    render();
  }
}

const setupActions: SetupActions = {
  enableInterface: (name) => void setUp(interfaceKey(name), () => api.enableInterface(name)),
  enableRegistry: (device, zone) => void setUp(REGISTRY_KEY, () => api.enableRegistry(device, zone)),
};

/** Adds the service's recent events to the list (each once, whenever they are read). */
async function readRecentEvents() {
  try {
    const recent = await api.recentEvents();
    state.history = true;
    state.log = merge(state.log, recent.filter(worthShowing).map((e) => logEntry(e)));
  } catch (e) {
    // A service older than `recent-events` (or one gone again): the live events still come.
    state.history = false;
    console.info("no recent events from the service:", (e as AppError).message);
  }
  render();
}

function logLive(e: ServiceEvent) {
  if (!worthShowing(e)) return;
  state.log = merge(state.log, [logEntry(e)]);
  render();
}

function header(): HTMLElement {
  const s = state.status;
  const look = s ? overall(s) : state.connection === "connecting" ? "connecting" : "unreachable";
  const anyRunning = s ? s.interfaces.some((i) => !i.paused) : false;
  const tab = (id: Tab, label: string) =>
    h(
      "button",
      {
        class: `tab${state.tab === id ? " active" : ""}`,
        "data-tab": id,
        "aria-selected": state.tab === id ? "true" : "false",
        onclick: () => {
          state.tab = id;
          if (id === "settings") settings = null; // re-read the config each time it opens
          render();
        },
      },
      label,
    );
  return h(
    "header",
    { class: "topbar" },
    h("div", { class: "brand" }, h("span", { class: `dot ${look}`, "aria-hidden": "true" }), "Punchwire"),
    h("div", { class: "summary", "data-summary": look }, s ? overallText(s) : look === "connecting" ? "Connecting…" : "Service unreachable"),
    h("nav", { class: "tabs" }, tab("peers", "Peers"), tab("settings", "Settings")),
    s && s.interfaces.length
      ? h(
          "button",
          {
            class: "btn",
            "data-action": anyRunning ? "pause-all" : "resume-all",
            onclick: () => act(anyRunning ? () => api.pause() : () => api.resume()),
          },
          anyRunning ? "Pause discovery" : "Resume discovery",
        )
      : null,
  );
}

function peersView(s: ServiceStatus): HTMLElement[] {
  const parts: HTMLElement[] = [];
  const unconfigured = s.unconfigured ?? [];
  if (unconfigured.length > 0) {
    parts.push(setupPanel(unconfigured, s.interfaces.length === 0, state.setup, setupActions));
  } else if (s.interfaces.length === 0) {
    parts.push(noInterfaceState(s));
  }
  for (const iface of s.interfaces) {
    parts.push(interfaceSection(iface, { pause: (n) => act(() => api.pause(n)), resume: (n) => act(() => api.resume(n)) }));
  }
  const devices = wireguardInterfaces(s);
  if (s.registry) {
    parts.push(registryModePanel(s.registry, { enable: () => act(api.registryEnable), disable: () => act(api.registryDisable) }));
  } else if (s.proposed_registry_zone !== undefined && devices.length > 0) {
    parts.push(registrySetupCard(devices, s.proposed_registry_zone, state.setup, setupActions));
  }
  const names = new Map(s.interfaces.flatMap((i) => i.peers.map((p) => [p.public_key, p.name] as const)));
  parts.push(activityPanel(state.log, (key) => names.get(key) ?? null, state.history));
  return parts;
}

function render() {
  // Notices always take the first slot, so the content below keeps its place in `main`.
  const notices = h("div", { class: "notices" });
  if (state.actionError) {
    notices.append(
      h(
        "div",
        { class: "toast", role: "alert", "data-error": "action" },
        state.actionError,
        h("button", { class: "btn small", onclick: () => ((state.actionError = null), render()) }, "Dismiss"),
      ),
    );
  }
  const content: HTMLElement[] = [];
  if (state.tab === "settings") {
    settings ??= settingsView();
    content.push(settings);
  } else if (state.connection === "connecting") {
    content.push(connectingState());
  } else if (state.connection !== "up") {
    content.push(problemState(state.connection, () => void refresh()));
  } else if (state.status) {
    content.push(...peersView(state.status));
  }
  const footer = h("footer", { class: "muted small" }, state.status ? `service ${state.status.version} · ${state.status.config_path}` : "");
  patch(app, [header(), main, footer]);
  patch(main, [notices, ...content]);
}

async function start() {
  render();
  await subscribe({
    status: (s) => {
      state.status = s;
      state.connection = "up";
      render();
    },
    event: logLive,
    connection: (c) => {
      if (c.state === "up") {
        // Back after being away: what happened meanwhile is in the recent events.
        if (!state.status) void refresh().then(readRecentEvents);
        return;
      }
      state.connection = c.error;
      state.status = null;
      render();
    },
  });
  // After subscribing, so that nothing falls between the two; `merge` drops what both hold.
  await Promise.all([refresh(), readRecentEvents()]);
}

void start();
