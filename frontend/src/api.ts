// The only way the UI talks to the app: Tauri commands and events. Nothing here knows
// about the control socket; the Rust side does.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { AppError, AppSettings, ConfigDocument, Connection, ServiceConfig, ServiceEvent, ServiceStatus } from "./types";

export const EVENT_STATUS = "punchwire://status";
export const EVENT_SERVICE = "punchwire://event";
export const EVENT_CONNECTION = "punchwire://connection";

/** Turns whatever a rejected command carried into an AppError. */
export function asAppError(e: unknown): AppError {
  if (e && typeof e === "object" && "message" in e) {
    const o = e as Record<string, unknown>;
    return {
      kind: typeof o.kind === "string" ? o.kind : "unreachable",
      message: String(o.message),
      key: typeof o.key === "string" ? o.key : null,
    };
  }
  return { kind: "unreachable", message: String(e) };
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw asAppError(e);
  }
}

export const api = {
  status: () => call<ServiceStatus>("status"),
  pause: (iface?: string) => call<void>("pause", { interface: iface ?? null }),
  resume: (iface?: string) => call<void>("resume", { interface: iface ?? null }),
  registryEnable: () => call<void>("registry_enable"),
  registryDisable: () => call<void>("registry_disable"),
  getConfig: () => call<ConfigDocument>("get_config"),
  /** Saves `config` if the file is still at `revision`; resolves to the file's new revision. */
  setConfig: (config: ServiceConfig, revision: string) => call<{ revision?: string } | null>("set_config", { config, revision }),
  /** Configures a WireGuard interface the configuration does not name, by its name alone. */
  enableInterface: (name: string) => call<void>("enable_interface", { name }),
  /** Makes this machine the registry for `zone`, serving the peers of `device`. */
  enableRegistry: (device: string, zone: string) => call<void>("enable_registry", { device, zone }),
  /** The service's latest events, oldest first. */
  recentEvents: () => call<ServiceEvent[]>("recent_events"),
  appSettings: () => call<AppSettings>("app_settings"),
  setAppSettings: (settings: AppSettings) => call<void>("set_app_settings", { settings }),
};

export interface Handlers {
  status(s: ServiceStatus): void;
  event(e: ServiceEvent): void;
  connection(c: Connection): void;
}

export async function subscribe(h: Handlers): Promise<UnlistenFn> {
  const offs = await Promise.all([
    listen<ServiceStatus>(EVENT_STATUS, (e) => h.status(e.payload)),
    listen<ServiceEvent>(EVENT_SERVICE, (e) => h.event(e.payload)),
    listen<Connection>(EVENT_CONNECTION, (e) => h.connection(e.payload)),
  ]);
  return () => offs.forEach((off) => off());
}
