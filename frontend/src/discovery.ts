// What finding an interface's registries among its peers came to, in the words every
// client uses (crates/punchwire-control/src/setup.rs, `Discovery::text`).
import type { Discovery } from "./types";

/** "registry 10.99.0.1, zone example.com.", "looking for a registry among the peers…", or what was tried. */
export function discoveryText(d: Discovery): string {
  switch (d.kind) {
    case "looking":
      return "looking for a registry among the peers…";
    case "found": {
      const hosts = d.registries.map(hostOf);
      return `${hosts.length === 1 ? "registry" : "registries"} ${hosts.join(", ")}, zone ${d.zone}`;
    }
    case "not-found":
      return d.error;
  }
}

/** The address of an `ip:port`, as Rust writes a socket address's IP: `[fd00::1]:53` → `fd00::1`. */
function hostOf(address: string): string {
  const v6 = /^\[(.*)\]:\d+$/.exec(address);
  if (v6) return v6[1];
  const colon = address.lastIndexOf(":");
  return colon > 0 && address.indexOf(":") === colon ? address.slice(0, colon) : address;
}
