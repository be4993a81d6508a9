// Settings: the service's per-interface discovery settings (saved through the service,
// which checks them) and the app's own preferences.
import { api } from "../api";
import { h, owned, richText } from "../dom";
import type { AppError, ConfigDocument, InterfaceConfig, ServiceConfig } from "../types";

/** Fields the form edits, per interface; each input carries its dotted key. */
const FIELDS: { field: keyof InterfaceConfig; label: string; hint: string; kind: "text" | "list" | "readonly" }[] = [
  { field: "name", label: "Interface", hint: "", kind: "readonly" },
  { field: "zone", label: "Zone", hint: "The DNS-SD zone the registries serve, e.g. example.com.", kind: "text" },
  { field: "registries", label: "Registries", hint: "One ip:port per line, reachable through the tunnel.", kind: "list" },
  { field: "interval", label: "Full resolution every", hint: "e.g. 30s", kind: "text" },
  { field: "poll", label: "Poll the zone's serial every", hint: "e.g. 1s", kind: "text" },
  { field: "handshake_threshold", label: "Keep an endpoint while its handshake is younger than", hint: "e.g. 150s", kind: "text" },
];

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
  root.replaceChildren(form(doc));
}

function form(doc: ConfigDocument): HTMLElement {
  const config: ServiceConfig = structuredClone(doc.config);
  const inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
  const errors = new Map<string, HTMLElement>();
  const formError = h("p", { class: "inline-error", role: "alert", "data-error": "form", hidden: true });
  const saved = h("span", { class: "saved muted", hidden: true }, "Saved");

  const ifaceBlocks = config.interface.map((iface, i) =>
    h(
      "fieldset",
      { "data-interface": iface.name },
      h("legend", null, iface.name),
      FIELDS.map(({ field, label, hint, kind }) => {
        const key = `interface[${i}].${String(field)}`;
        const value = iface[field];
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
          hint ? h("div", { class: "hint muted" }, hint) : null,
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
      for (const { field, kind } of FIELDS) {
        if (kind === "readonly") continue;
        const raw = inputs.get(`interface[${i}].${String(field)}`)!.value;
        (iface as Record<string, unknown>)[field as string] =
          kind === "list" ? raw.split(/[\n,]/).map((s) => s.trim()).filter(Boolean) : raw.trim();
      }
    });
    try {
      await api.setConfig(config);
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
