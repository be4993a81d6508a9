// Settings: the service's per-interface discovery settings (saved through the service,
// which checks them) and the app's own preferences.
import { api } from "../api";
import { h, owned, richText } from "../dom";
import type { AppError, ConfigDocument, InterfaceConfig, ServiceConfig } from "../types";

type Timed = keyof NonNullable<ConfigDocument["defaults"]>;

/**
 * Fields the form edits, per interface; each input carries its dotted key. The hints of
 * durations name the service's own default (get_config sends them), never a copy here.
 */
const FIELDS: {
  field: keyof InterfaceConfig;
  label: string;
  hint: string;
  kind: "text" | "list" | "readonly" | "toggle";
  timed?: Timed;
  /** A toggle's value when the configuration leaves it out (the service's default). */
  fallback?: boolean;
  /** Left out of the configuration when empty: the service finds it. */
  optional?: boolean;
}[] = [
  { field: "name", label: "Interface", hint: "", kind: "readonly" },
  { field: "zone", label: "Zone", hint: "The DNS-SD zone the registries serve, e.g. example.com. Empty: the zone the registries name.", kind: "text", optional: true },
  {
    field: "registries",
    label: "Registries",
    hint: "One ip:port per line, reachable through the tunnel. Empty: found among the peers.",
    kind: "list",
    optional: true,
  },
  { field: "interval", label: "Full resolution every", hint: "A duration such as 30s or 2m 30s.", kind: "text", timed: "interval" },
  { field: "poll", label: "Poll the zone's serial every", hint: "A duration such as 1s or 500ms.", kind: "text", timed: "poll" },
  {
    field: "handshake_threshold",
    label: "Keep an endpoint while its handshake is younger than",
    hint: "A duration such as 2m 30s.",
    kind: "text",
    timed: "handshake_threshold",
  },
  {
    field: "candidates",
    label: "Share this machine's addresses with peers",
    hint: "Registers its LAN and IPv6 addresses with the registry, so that peers behind the same router meet over the LAN. Off keeps them out of the registry.",
    kind: "toggle",
    fallback: true,
  },
  {
    field: "relay",
    label: "Relay through the registry when no direct path works",
    hint: "Both peers and the registry must have relay on. The AllowedIPs it moves come back on pause, stop and after a crash.",
    kind: "toggle",
    fallback: false,
  },
];

/** A field's hint, with the service's default for it when the service said. */
function hintFor(hint: string, timed: Timed | undefined, doc: ConfigDocument): string {
  const fallback = timed ? doc.defaults?.[timed] : undefined;
  return fallback ? `${hint} Default: ${fallback}.` : hint;
}

/**
 * The form field an error key belongs to: `interface[0].registries[1]` belongs to
 * `interface[0].registries`. Strips trailing `[n]` and `.x` parts until one matches.
 */
export function fieldKeyFor(key: string, known: Set<string>): string | null {
  let k = key;
  while (k.length > 0) {
    if (known.has(k)) return k;
    const cut = Math.max(k.lastIndexOf("["), k.lastIndexOf("."));
    if (cut <= 0) return null;
    k = k.slice(0, cut);
  }
  return null;
}

export function settingsView(): HTMLElement {
  const root = owned(h("section", { class: "card settings", "data-panel": "settings" }, h("p", { class: "muted" }, "Loading settings…")));
  void load(root);
  return root;
}

async function load(root: HTMLElement) {
  let doc: ConfigDocument;
  try {
    doc = await api.getConfig();
  } catch (e) {
    const err = e as AppError;
    root.replaceChildren(
      h("header", { class: "card-head" }, h("h2", null, "Settings")),
      h("p", { class: "inline-error", role: "alert", "data-error": "load" }, ...richText(err.message)),
    );
    return;
  }
  root.replaceChildren(form(doc, () => void load(root)));
}

/** The form for `doc`; `reload` reads the settings again and redraws it. */
function form(doc: ConfigDocument, reload: () => void): HTMLElement {
  const config: ServiceConfig = structuredClone(doc.config);
  // What the file was when these settings were read, or when this form last saved it.
  let revision = doc.revision;
  const inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
  const errors = new Map<string, HTMLElement>();
  const formError = h("p", { class: "inline-error", role: "alert", "data-error": "form", hidden: true });
  const saved = h("span", { class: "saved muted", hidden: true }, "Saved");

  const ifaceBlocks = config.interface.map((iface, i) =>
    h(
      "fieldset",
      { "data-interface": iface.name },
      h("legend", null, iface.name),
      FIELDS.map(({ field, label, hint, kind, timed, fallback }) => {
        const key = `interface[${i}].${String(field)}`;
        const value = iface[field];
        if (kind === "toggle") {
          const box = h("input", { id: key, name: key, type: "checkbox" });
          box.checked = typeof value === "boolean" ? value : (fallback ?? false);
          inputs.set(key, box);
          const err = h("div", { class: "field-error", "data-error-for": key, hidden: true });
          errors.set(key, err);
          return h("div", { class: "field" }, h("label", { class: "check" }, box, ` ${label}`), h("div", { class: "hint muted" }, hint), err);
        }
        const input =
          kind === "list"
            ? h("textarea", { id: key, name: key, rows: 2, spellcheck: "false" })
            : h("input", { id: key, name: key, type: "text", spellcheck: "false", readonly: kind === "readonly" });
        input.value = Array.isArray(value) ? value.join("\n") : String(value ?? "");
        inputs.set(key, input);
        const err = h("div", { class: "field-error", "data-error-for": key, hidden: true });
        errors.set(key, err);
        return h(
          "div",
          { class: "field" },
          h("label", { for: key }, label),
          input,
          hint ? h("div", { class: "hint muted" }, hintFor(hint, timed, doc)) : null,
          err,
        );
      }),
    ),
  );

  const clearErrors = () => {
    errors.forEach((e) => ((e.hidden = true), (e.textContent = "")));
    inputs.forEach((i) => i.removeAttribute("aria-invalid"));
    formError.hidden = true;
    saved.hidden = true;
  };

  const showError = (err: AppError) => {
    if (err.kind === "conflict") {
      // Someone saved first (or the file was edited): these edits are based on settings
      // that are gone. Offer to read them again rather than overwrite that change.
      formError.replaceChildren(
        ...richText(err.message),
        " ",
        h("button", { class: "btn", type: "button", "data-action": "reload-settings", onclick: reload }, "Reload settings"),
      );
      formError.hidden = false;
      return;
    }
    const field = err.key ? fieldKeyFor(err.key, new Set(inputs.keys())) : null;
    if (field) {
      const slot = errors.get(field)!;
      // The message starts with the key, which the field's place already says.
      const own = err.key && err.message.startsWith(`${err.key}: `) ? err.message.slice(err.key.length + 2) : err.message;
      slot.replaceChildren(...richText(own));
      slot.hidden = false;
      const input = inputs.get(field)!;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } else {
      formError.replaceChildren(...richText(err.message));
      formError.hidden = false;
    }
  };

  const submit = async (ev: Event) => {
    ev.preventDefault();
    clearErrors();
    config.interface.forEach((iface, i) => {
      for (const { field, kind, optional, fallback } of FIELDS) {
        if (kind === "readonly") continue;
        const input = inputs.get(`interface[${i}].${String(field)}`)!;
        if (kind === "toggle") {
          const fields = iface as Record<string, unknown>;
          const checked = (input as HTMLInputElement).checked;
          // Left out and left at the default stays left out: the file says only what the user chose.
          if (fields[field as string] === undefined && checked === fallback) continue;
          fields[field as string] = checked;
          continue;
        }
        const raw = input.value;
        const value = kind === "list" ? raw.split(/[\n,]/).map((s) => s.trim()).filter(Boolean) : raw.trim();
        const fields = iface as Record<string, unknown>;
        if (optional && value.length === 0) delete fields[field as string];
        else fields[field as string] = value;
      }
    });
    try {
      const answer = await api.setConfig(config, revision);
      revision = answer?.revision ?? revision;
      saved.hidden = false;
    } catch (e) {
      showError(e as AppError);
    }
  };

  return h(
    "form",
    { class: "settings-form", novalidate: true, onsubmit: submit },
    h("header", { class: "card-head" }, h("h2", null, "Settings"), h("span", { class: "muted mono small" }, doc.path)),
    formError,
    config.interface.length ? ifaceBlocks : h("p", { class: "empty" }, "No interfaces in the configuration."),
    h("div", { class: "form-actions" }, h("button", { class: "btn primary", type: "submit", "data-action": "save" }, "Save"), saved),
    appPreferences(),
  );
}

function appPreferences(): HTMLElement {
  const box = h("input", { type: "checkbox", id: "notifications", name: "notifications" });
  const status = h("span", { class: "muted small" });
  void api
    .appSettings()
    .then((s) => (box.checked = s.notifications))
    .catch((e: AppError) => (status.textContent = e.message));
  box.addEventListener("change", () => {
    api
      .setAppSettings({ notifications: box.checked })
      .then(() => (status.textContent = ""))
      .catch((e: AppError) => (status.textContent = e.message));
  });
  return h(
    "fieldset",
    { class: "app-prefs" },
    h("legend", null, "This app"),
    h("label", { class: "check" }, box, " Desktop notifications when a peer's endpoint changes or it becomes / stops being direct"),
    status,
  );
}
