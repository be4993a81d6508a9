// Injected before the app's code in the UI tests: Tauri's IPC mocked, driven by the
// scenario in `window.__SCENARIO__`, with every command call recorded.
import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";

interface Scenario {
  status?: unknown;
  statusError?: unknown;
  config?: unknown;
  configError?: unknown;
  setConfigError?: unknown;
  /** What a successful set_config answers with: the file's new revision. */
  savedRevision?: string;
  appSettings?: { notifications: boolean };
  /** The status the service reports once a command has run, by command (pause, resume, enable_interface, enable_registry). */
  after?: Record<string, unknown>;
  /** What recent_events answers with (none: an empty list). */
  recentEvents?: unknown[];
  recentEventsError?: unknown;
  /** recent_events answers only once the test calls `__mock.releaseRecentEvents()`. */
  holdRecentEvents?: boolean;
  /** Why enable_interface / enable_registry is refused, by command. */
  setupError?: Record<string, unknown>;
}

declare global {
  interface Window {
    __SCENARIO__: Scenario;
    __mock: {
      calls: { cmd: string; args: unknown }[];
      emit(event: string, payload: unknown): Promise<void>;
    };
  }
}

const calls: { cmd: string; args: unknown }[] = [];
const held: (() => void)[] = [];
const sc = (): Scenario => window.__SCENARIO__ ?? {};

type Iface = { name: string; paused: boolean };
const ifaces = (): Iface[] => ((sc().status as { interfaces?: Iface[] })?.interfaces ?? []);

mockWindows("main");
mockIPC(
  (cmd, args) => {
    calls.push({ cmd, args: JSON.parse(JSON.stringify(args ?? {})) });
    const s = sc();
    const a = (args ?? {}) as Record<string, unknown>;
    switch (cmd) {
      case "status":
        if (s.statusError) throw s.statusError;
        return s.status;
      case "pause":
      case "resume":
        // The service words its summary; the mock only replays the one the test gave.
        if (s.after?.[cmd]) s.status = JSON.parse(JSON.stringify(s.after[cmd]));
        else for (const i of ifaces()) if (!a.interface || a.interface === i.name) i.paused = cmd === "pause";
        return null;
      case "registry_enable":
      case "registry_disable": {
        const r = (s.status as { registry?: { enabled: boolean } }).registry;
        if (r) r.enabled = cmd === "registry_enable";
        return null;
      }
      case "get_config":
        if (s.configError) throw s.configError;
        return s.config;
      case "set_config":
        if (s.setConfigError) throw s.setConfigError;
        return s.savedRevision ? { revision: s.savedRevision } : null;
      case "recent_events": {
        if (s.recentEventsError) throw s.recentEventsError;
        const answer = () => JSON.parse(JSON.stringify(s.recentEvents ?? []));
        if (s.holdRecentEvents) return new Promise((resolve) => held.push(() => resolve(answer())));
        return answer();
      }
      case "enable_interface":
      case "enable_registry":
        if (s.setupError?.[cmd]) throw s.setupError[cmd];
        if (s.after?.[cmd]) s.status = JSON.parse(JSON.stringify(s.after[cmd]));
        return null;
      case "app_settings":
        return s.appSettings ?? { notifications: true };
      case "set_app_settings":
        s.appSettings = a.settings as { notifications: boolean };
        return null;
      default:
        throw { kind: "protocol", message: `the test mock does not know command ${cmd}` };
    }
  },
  { shouldMockEvents: true },
);

window.__mock = {
  calls,
  emit: async (event, payload) => {
    await window.__TAURI_INTERNALS__.invoke("plugin:event|emit", { event, payload });
  },
  releaseRecentEvents: () => held.splice(0).forEach((answer) => answer()),
};
