// UI tests: the built frontend in headless Chromium with Tauri's IPC mocked. Each test
// sets a service state, then asserts what a user sees. Screenshots go to test-artifacts/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { serveDir } from "./serve.mjs";
import * as fx from "./fixtures.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
// The app's own folder: its build, its screenshots, and the packages the tests use
// (installed there, beside the app's).
const frontend = path.join(here, "..", "..", "frontend");
const require = createRequire(path.join(frontend, "package.json"));
const { build } = require("esbuild");
const { chromium } = require("playwright-core");
const dist = path.join(frontend, "dist");
const artifacts = path.join(frontend, "test-artifacts");
mkdirSync(artifacts, { recursive: true });

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"];

let browser, server, harness;

before(async () => {
  const out = await build({
    entryPoints: [path.join(here, "harness.ts")],
    bundle: true,
    format: "iife",
    write: false,
    target: "es2021",
    nodePaths: [path.join(frontend, "node_modules")],
  });
  harness = out.outputFiles[0].text;
  server = await serveDir(dist);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** A page showing the built app against `scenario`, with the mock in place first. */
async function open(scenario, { colorScheme = "light", timezoneId } = {}) {
  const context = await browser.newContext({ viewport: { width: 1040, height: 720 }, colorScheme, timezoneId });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.addInitScript((s) => (window.__SCENARIO__ = s), scenario);
  await page.addInitScript(harness);
  await page.goto(server.url);
  page.errors = errors;
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

const summary = (page) => page.locator("[data-summary]");
const row = (page, key) => page.locator(`tr[data-peer="${key}"]`);
const calls = (page, cmd) => page.evaluate((c) => window.__mock.calls.filter((x) => x.cmd === c).map((x) => x.args), cmd);

async function done(page) {
  assert.deepEqual(page.errors.map(String), [], "no script errors on the page");
  await page.context().close();
}

describe("peers", () => {
  test("all direct: every peer shows direct and no reason, the registry is reachable", async () => {
    const page = await open({ status: fx.allDirect() });
    await page.locator("table.peers").waitFor();
    assert.equal(await summary(page).textContent(), "All 2 peers direct");
    assert.equal(await page.locator("[data-summary]").getAttribute("data-summary"), "all-direct");
    const alice = row(page, fx.peer("alice").public_key);
    assert.deepEqual(await alice.locator("td").allTextContents(), [
      "alice",
      "10.99.0.2/32",
      "198.51.100.7:41234",
      "registry",
      "14 s ago",
      "1.4 MiB / 900 KiB",
      "direct",
    ]);
    assert.equal(await page.locator(".reason").count(), 0);
    const reg = page.locator('tr[data-registry="10.99.0.1:53"] td');
    assert.deepEqual(await reg.allTextContents(), ["10.99.0.1:53", "reachable", "3.4 ms", "2024112407", "just now"]);
    assert.equal(await page.locator('[data-panel="registry-mode"]').count(), 0, "no registry-mode panel when not a registry");
    await shot(page, "all-direct");
    await page.emulateMedia({ colorScheme: "dark" });
    await shot(page, "all-direct-dark");
    await done(page);
  });

  test("some not direct: the health says why, next to the peer, in the service's words", async () => {
    // The shared golden status: one peer in each health state.
    const page = await open({ status: fx.someNotDirect() });
    await page.locator("table.peers").waitFor();
    const golden = fx.golden().status;
    assert.equal(await summary(page).textContent(), golden.summary.text);
    assert.equal(await summary(page).getAttribute("data-summary"), "some-not-direct");
    const label = { direct: "direct", pending: "pending", stale: "stale", "not-direct": "not direct", registry: "registry" };
    for (const p of golden.interfaces[0].peers) {
      const r = row(page, p.public_key);
      assert.equal(await r.getAttribute("data-health"), p.health.state, p.public_key);
      assert.equal(await r.locator(".badge").textContent(), label[p.health.state]);
      const shown = p.health.state !== "direct" && p.health.state !== "registry";
      assert.deepEqual(await r.locator(".reason").allTextContents(), shown ? [p.health.text] : [], `${p.name}: the reason, where there is one to act on`);
    }
    const bob = row(page, fx.peer("bob").public_key);
    assert.match(await bob.locator(".reason").textContent(), /symmetric NAT/);
    assert.equal(await bob.locator("td").nth(4).textContent(), "never");
    await shot(page, "some-not-direct");
    await done(page);
  });

  test("a relayed peer says so, and why, with its own tunnel address", async () => {
    const because = "no handshake followed endpoint 203.0.113.9:51820 (symmetric NAT on either side?)";
    const relayed = fx.peer("bob", {
      latest_handshake_age_secs: null,
      health: {
        state: "relayed",
        reason: { kind: "relayed-via-registry", because, since_secs: 42 },
        text: `relayed via registry for 42 s, as ${because}; the direct path is still tried`,
      },
    });
    const page = await open({
      status: fx.status({
        peers: [fx.peer("registry"), fx.peer("alice"), relayed],
        summary: { state: "some-not-direct", text: "1 of 2 peers direct, 1 relayed" },
      }),
    });
    const bob = row(page, relayed.public_key);
    await bob.waitFor();
    assert.equal(await bob.getAttribute("data-health"), "relayed");
    assert.equal(await bob.locator(".badge").textContent(), "relayed via registry");
    assert.equal(await bob.locator(".reason").textContent(), relayed.health.text);
    assert.equal(await bob.locator("td").nth(1).textContent(), "10.99.0.3/32");
    assert.equal(await summary(page).textContent(), "1 of 2 peers direct, 1 relayed");
    await shot(page, "relayed");
    await done(page);
  });

  test("a peer without a name shows a short key, the full key on hover", async () => {
    const s = fx.allDirect();
    s.interfaces[0].peers[1].name = null;
    const page = await open({ status: s });
    const alice = row(page, fx.peer("alice").public_key);
    assert.equal(await alice.locator(".peer-name").textContent(), "xTIBA5rb…");
    assert.equal(await alice.locator(".peer-name").getAttribute("title"), fx.peer("alice").public_key);
    await done(page);
  });

  test("paused: says so, and Resume resumes", async () => {
    const page = await open({ status: fx.paused(), after: { resume: fx.allDirect(), pause: fx.paused() } });
    await page.locator("table.peers").waitFor();
    assert.equal(await summary(page).textContent(), "Discovery paused");
    assert.equal(await page.locator('[data-interface="wg0"] .badge.paused').textContent(), "paused");
    await shot(page, "paused");
    await page.locator('[data-action="resume-all"]').click();
    await page.locator('[data-action="pause-all"]').waitFor();
    assert.deepEqual(await calls(page, "resume"), [{ interface: null }]);
    assert.equal(await summary(page).textContent(), "All 2 peers direct");
    await page.locator('[data-action="pause-interface"]').click();
    await page.locator('[data-action="resume-interface"]').waitFor();
    assert.deepEqual(await calls(page, "pause"), [{ interface: "wg0" }]);
    await done(page);
  });

  test("empty states: no WireGuard interface at all, and an interface without peers", async () => {
    const none = fx.allDirect();
    none.interfaces = [];
    none.proposed_registry_zone = "punchwire.home.arpa.";
    let page = await open({ status: none });
    const empty = page.locator('[data-empty="interfaces"]');
    await empty.waitFor();
    assert.equal(await empty.locator("h2").textContent(), "No WireGuard interface on this machine");
    assert.match(await empty.textContent(), /Create one with wg-quick up wg0 or your VPN client/);
    assert.equal(await page.locator('[data-panel="registry-setup"]').count(), 0, "no device to serve a registry on");
    await shot(page, "no-interfaces");
    await done(page);

    // A service older than the first-run contract does not say which interfaces exist.
    delete none.unconfigured;
    page = await open({ status: none });
    await page.locator('[data-empty="interfaces"]').waitFor();
    assert.match(await page.locator('[data-empty="interfaces"]').textContent(), /Add an \[\[interface\]\] to \/etc\/punchwire\/config.toml/);
    await done(page);

    page = await open({ status: fx.status({ peers: [], summary: { state: "no-peers", text: "No peers yet" } }) });
    await page.locator('[data-empty="peers"]').waitFor();
    assert.match(await page.locator('[data-empty="peers"]').textContent(), /No peers on wg0 yet/);
    assert.equal(await summary(page).textContent(), "No peers yet");
    await done(page);
  });
});

describe("service problems", () => {
  test("service not running: says how to start it", async () => {
    const page = await open({ statusError: fx.notRunning });
    const problem = page.locator('[data-problem="not-running"]');
    await problem.waitFor();
    assert.equal(await problem.locator("h2").textContent(), "The Punchwire service is not running");
    assert.deepEqual(await problem.locator("code").allTextContents(), ["sudo systemctl start punchwire", "sudo punchwire service"]);
    assert.equal(await summary(page).textContent(), "Service unreachable");
    await shot(page, "service-unreachable");
    await done(page);
  });

  test("not in the punchwire group: says how to join it", async () => {
    const page = await open({ statusError: fx.notInGroup });
    const problem = page.locator('[data-problem="permission-denied"]');
    await problem.waitFor();
    assert.equal(await problem.locator("h2").textContent(), "You are not in the punchwire group");
    assert.deepEqual(await problem.locator("code").allTextContents(), ["sudo usermod -aG punchwire $USER"]);
    await shot(page, "not-in-group");
    await done(page);
  });

  test("a refused action shows the service's reason", async () => {
    const page = await open({ status: fx.allDirect() });
    await page.locator("table.peers").waitFor();
    await page.evaluate(() => {
      const inner = window.__TAURI_INTERNALS__.invoke;
      window.__TAURI_INTERNALS__.invoke = (cmd, args, o) =>
        cmd === "pause" ? Promise.reject({ kind: "refused", message: "permission denied: pause needs the punchwire group" }) : inner(cmd, args, o);
    });
    await page.locator('[data-action="pause-all"]').click();
    const toast = page.locator('[data-error="action"]');
    await toast.waitFor();
    assert.match(await toast.textContent(), /pause needs the punchwire group/);
    await done(page);
  });
});

describe("registry mode", () => {
  test("the panel shows what this registry serves, and Disable disables it", async () => {
    const page = await open({ status: fx.registryMode() });
    const panel = page.locator('[data-panel="registry-mode"]');
    await panel.waitFor();
    assert.equal(await panel.locator('[data-stat="peers-served"] .stat-value').textContent(), "12");
    assert.equal(await panel.locator('[data-stat="queries"] .stat-value').textContent(), "48,213");
    assert.equal(await panel.locator('[data-stat="refusals"] .stat-value').textContent(), "7");
    assert.equal(await panel.locator(".badge").textContent(), "serving");
    await shot(page, "registry-mode");
    await panel.locator('[data-action="registry-disable"]').click();
    await panel.locator('[data-action="registry-enable"]').waitFor();
    assert.equal(await panel.locator(".badge").textContent(), "disabled");
    assert.equal((await calls(page, "registry_disable")).length, 1);
    await panel.locator('[data-action="registry-enable"]').click();
    await panel.locator('[data-action="registry-disable"]').waitFor();
    assert.equal((await calls(page, "registry_enable")).length, 1);
    await done(page);
  });
});

describe("live updates", () => {
  test("status, events and connection changes are applied as they arrive, without polling", async () => {
    const page = await open({ status: fx.allDirect() });
    await page.locator("table.peers").waitFor();
    const bobKey = fx.peer("bob").public_key;

    await page.evaluate((s) => window.__mock.emit("punchwire://status", s), fx.someNotDirect());
    await row(page, bobKey).and(page.locator('[data-health="not-direct"]')).waitFor();
    assert.equal(await summary(page).textContent(), "1 of 5 peers direct");

    await page.evaluate(() =>
      // The service's own shape: keys only, the name comes from the status.
      window.__mock.emit("punchwire://event", {
        type: "endpoint-changed",
        iface: "wg0",
        peer: "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=",
        old: "203.0.113.9:40000",
        new: "203.0.113.9:51820",
        registry: "10.99.0.1:53",
      }),
    );
    // A routine decision (every pass, every peer) is not activity worth a line.
    await page.evaluate(() =>
      window.__mock.emit("punchwire://event", {
        type: "decision",
        iface: "wg0",
        peer: "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=",
        reason: "unchanged",
        endpoint: "203.0.113.9:51820",
      }),
    );
    await page.evaluate(() => window.__mock.emit("punchwire://event", { type: "something-new", detail: 42 }));
    // The way through a peer's candidates is worth a line; so is this machine's own set.
    await page.evaluate(() =>
      window.__mock.emit("punchwire://event", {
        type: "decision",
        iface: "wg0",
        peer: "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=",
        reason: "trying its LAN address 192.168.1.3:51820",
        endpoint: "192.168.1.3:51820",
      }),
    );
    await page.evaluate(() =>
      window.__mock.emit("punchwire://event", {
        type: "candidates-registered",
        iface: "wg0",
        registry: "10.99.0.1:53",
        candidates: ["192.168.1.2:51820", "[2001:db8::2]:51820"],
      }),
    );
    const events = page.locator('[data-panel="activity"] li');
    await events.nth(3).waitFor();
    const texts = await events.allTextContents();
    assert.equal(texts.length, 4, `only the four events worth showing: ${texts}`);
    assert.match(texts[0], /candidates 192\.168\.1\.2:51820, \[2001:db8::2\]:51820 registered with 10\.99\.0\.1:53$/);
    assert.match(texts[1], /bob: trying its LAN address 192\.168\.1\.3:51820$/);
    assert.match(texts[2], /something-new \{"detail":42\}$/, "an unknown event type is shown as it came");
    assert.match(texts[3], /bob: endpoint 203\.0\.113\.9:40000 → 203\.0\.113\.9:51820$/);
    await shot(page, "live-update");

    await page.evaluate((e) => window.__mock.emit("punchwire://connection", { state: "down", error: e }), fx.notRunning);
    await page.locator('[data-problem="not-running"]').waitFor();

    await page.evaluate((s) => {
      window.__mock.emit("punchwire://connection", { state: "up" });
      window.__mock.emit("punchwire://status", s);
    }, fx.allDirect());
    await page.locator("table.peers").waitFor();
    assert.equal(await summary(page).textContent(), "All 2 peers direct");
    assert.ok((await calls(page, "status")).length <= 2, "status is read at start (and at most once on reconnect), not polled");
    await done(page);
  });
});

describe("health events", () => {
  test("the golden health changes read in the service's words, newest first", async () => {
    const page = await open({ status: fx.someNotDirect() });
    await page.locator("table.peers").waitFor();
    const changes = fx.events().filter((e) => e.type === "peer-health-changed");
    for (const e of changes) await page.evaluate((ev) => window.__mock.emit("punchwire://event", ev), e);
    const events = page.locator('[data-panel="activity"] li');
    await events.nth(changes.length - 1).waitFor();
    const texts = (await events.allTextContents()).map((t) => t.replace(/^.*?\d\d:\d\d:\d\d /, ""));
    assert.deepEqual(texts, [
      "alice is direct: handshake 1 s ago",
      "carol is stale: latest handshake 150 s ago",
      "bob is not direct: no handshake followed endpoint 203.0.113.9:40000 (symmetric NAT on either side?)",
    ]);
    assert.equal(await page.locator('[data-panel="activity"] li[data-event="decision"]').count(), 0);
    await done(page);
  });
});

describe("activity", () => {
  test("every event the service sends is put in words, naming the peer from the status", async () => {
    const page = await open({ status: fx.allDirect() });
    await page.locator("table.peers").waitFor();
    const sent = fx.events();
    for (const event of sent) {
      await page.evaluate((e) => window.__mock.emit("punchwire://event", e), event);
    }
    const lines = page.locator('[data-panel="activity"] li');
    await lines.nth(sent.length - 1).waitFor();
    const texts = await lines.allTextContents();
    assert.equal(texts.length, sent.length, `one line per event (the fixture's decision is a rejection): ${texts}`);
    for (const text of texts) {
      assert.doesNotMatch(text, /[{}]/, `told in words, not shown as it came: ${text}`);
    }
    const told = texts.join("\n");
    assert.match(told, /bob: endpoint 203\.0\.113\.9:40000 → 203\.0\.113\.9:51820/);
    assert.match(told, /bob is not direct: no handshake followed endpoint 203\.0\.113\.9:40000/);
    assert.match(told, /registry 10\.98\.0\.1:53 unreachable: timed out/);
    assert.match(told, /discovery paused on wg0/);
    assert.match(told, /registry moved: home\.example\.net:51820 now gives 192\.0\.2\.20:51820 \(was 192\.0\.2\.10:51820\)/);
    assert.match(told, /registry: cannot resolve home\.example\.net:51820: cannot resolve home\.example\.net: no address in the answer; endpoint kept/);
    assert.match(told, /this machine's network changed \(192\.168\.7\.9\/24 came up\): every peer looked up again/);
    assert.match(told, /configuration reloaded/);
    assert.match(told, /registry mode disabled/);
    assert.match(told, /bob is relayed via the registry: no handshake followed endpoint 203\.0\.113\.9:40000/);
    assert.match(told, /bob has its own addresses back: a direct handshake completed/);
    assert.match(told, /relay undone on wg0 \(1 peer\): the service had ended without undoing its relay/);
    await done(page);
  });
});

describe("first run", () => {
  const card = (page, name) => page.locator(`[data-unconfigured="${name}"]`);
  const enable = (page, name) => page.locator(`[data-action="enable-interface"][data-iface="${name}"]`);

  test("an interface whose registry was found is offered with one button; enabling it shows it configured", async () => {
    const page = await open({ status: fx.firstRun(), after: { enable_interface: fx.enabled() } });
    const wg0 = card(page, "wg0");
    await wg0.waitFor();
    assert.equal(await page.locator('[data-panel="setup"] h2').textContent(), "Set up Punchwire");
    assert.equal(await wg0.getAttribute("data-discovery"), "found");
    assert.equal(await wg0.locator(".setup-name").textContent(), "wg03 peers");
    assert.equal(await wg0.locator(".discovery").textContent(), "registry 10.99.0.1, zone example.com. — keep this interface's peers direct");
    assert.equal(await enable(page, "wg0").isEnabled(), true);
    assert.equal(await page.locator('[data-empty="interfaces"]').count(), 0, "the first-run screen replaces the empty state");
    await shot(page, "first-run");

    await enable(page, "wg0").click();
    const section = page.locator('section[data-interface="wg0"]');
    await section.waitFor();
    assert.deepEqual(await calls(page, "enable_interface"), [{ name: "wg0" }]);
    assert.equal(await page.locator('[data-panel="setup"]').count(), 0, "nothing left to set up");
    assert.equal(await section.locator('[data-discovery="found"]').textContent(), "found: registry 10.99.0.1, zone example.com.");
    assert.equal(await summary(page).textContent(), "All 2 peers direct");
    await shot(page, "first-run-enabled");
    await done(page);
  });

  test("while looking, and when no registry was found: said in words, with nothing to click", async () => {
    const page = await open({
      status: fx.firstRun([
        { name: "wg0", peers: 1, discovery: fx.looking() },
        { name: "wg1", peers: 3, discovery: fx.notFound() },
      ]),
    });
    await card(page, "wg1").waitFor();
    assert.equal(await card(page, "wg0").locator(".discovery").textContent(), "looking for a registry among the peers…");
    assert.equal(await card(page, "wg0").locator('[role="alert"]').count(), 0);
    assert.equal(await enable(page, "wg0").isDisabled(), true);
    assert.equal(await card(page, "wg0").locator(".setup-name").textContent(), "wg01 peer");

    const alert = card(page, "wg1").locator('[role="alert"]');
    assert.equal(await alert.textContent(), fx.notFound().text);
    assert.equal(await enable(page, "wg1").isDisabled(), true);
    await shot(page, "first-run-not-found");

    // The service keeps looking and says when it finds one.
    await page.evaluate((s) => window.__mock.emit("punchwire://status", s), fx.firstRun([{ name: "wg0", peers: 1, discovery: fx.found() }, { name: "wg1", peers: 3, discovery: fx.notFound() }]));
    await page.waitForFunction(() => !document.querySelector('[data-action="enable-interface"][data-iface="wg0"]').disabled);
    assert.match(await card(page, "wg0").locator(".discovery").textContent(), /^registry 10\.99\.0\.1, zone example\.com\./);
    await done(page);
  });

  test("with an interface configured, the others are offered above it", async () => {
    const s = fx.allDirect();
    s.unconfigured = [{ name: "wg1", peers: 2, discovery: fx.found(["10.98.0.1:53", "10.98.0.2:53"], "lab.example.", "registries 10.98.0.1, 10.98.0.2, zone lab.example.") }];
    const page = await open({ status: s });
    await card(page, "wg1").waitFor();
    assert.equal(await page.locator('[data-panel="setup"] h2').textContent(), "More WireGuard interfaces");
    assert.match(await card(page, "wg1").locator(".discovery").textContent(), /^registries 10\.98\.0\.1, 10\.98\.0\.2, zone lab\.example\./);
    const above = await page.evaluate(() => {
      const setup = document.querySelector('[data-panel="setup"]');
      const wg0 = document.querySelector('section[data-interface="wg0"]');
      return Boolean(setup.compareDocumentPosition(wg0) & Node.DOCUMENT_POSITION_FOLLOWING);
    });
    assert.ok(above, "the set-up comes before the configured interfaces");
    await done(page);
  });

  test("a refused set-up is told on the card that was clicked, and can be tried again", async () => {
    const page = await open({
      status: fx.firstRun(),
      setupError: {
        enable_interface: {
          kind: "permission-denied",
          message: "permission denied on /run/punchwire/control.sock: you are not in the punchwire group (add yourself with `sudo usermod -aG punchwire $USER` and log in again)",
        },
      },
    });
    await enable(page, "wg0").click();
    const error = card(page, "wg0").locator('[data-error="setup"]');
    await error.waitFor();
    assert.match(await error.textContent(), /not in the punchwire group/);
    assert.deepEqual(await error.locator("code").allTextContents(), ["sudo usermod -aG punchwire $USER"]);
    assert.equal(await page.locator('[data-error="action"]').count(), 0, "not a toast far from the button");
    assert.equal(await enable(page, "wg0").isEnabled(), true, "it can be tried again");
    await shot(page, "first-run-refused");
    await done(page);
  });

  test("serving as a registry: the proposed zone, a choice of device, one button", async () => {
    const s = fx.enabled();
    s.unconfigured = [{ name: "wg1", peers: 0, discovery: fx.looking() }];
    const served = fx.enabled();
    served.proposed_registry_zone = undefined;
    served.registry = { enabled: true, zone: "mesh.home.arpa.", device: "wg1", listen: [], peers_served: 0, queries: 0, refusals: 0, error: null };
    const page = await open({
      status: s,
      after: { enable_registry: served },
      setupError: { enable_registry: { kind: "invalid-config", key: "registry.device", message: "registry.device: wg1 has no tunnel address to listen on" } },
    });
    const setup = page.locator('[data-panel="registry-setup"]');
    await setup.waitFor();
    const zone = setup.locator('input[name="zone"]');
    const device = setup.locator('select[name="device"]');
    assert.equal(await zone.inputValue(), "punchwire.home.arpa.");
    assert.deepEqual(await device.locator("option").allTextContents(), ["wg0", "wg1"], "configured and unconfigured interfaces");
    assert.equal(await device.inputValue(), "wg0");
    await shot(page, "registry-setup");

    await device.selectOption("wg1");
    await zone.fill("mesh.home.arpa");
    // A status update while the user is at it keeps what they chose and typed.
    await page.evaluate((st) => window.__mock.emit("punchwire://status", st), s);
    await page.evaluate(() => window.__mock.emit("punchwire://event", { type: "reloaded", at: Date.now() }));
    await page.locator('[data-panel="activity"] li[data-event="reloaded"]').waitFor();
    assert.equal(await zone.inputValue(), "mesh.home.arpa");
    assert.equal(await device.inputValue(), "wg1");

    await setup.locator('[data-action="serve-as-registry"]').click();
    const error = setup.locator('[data-error="setup"]');
    await error.waitFor();
    assert.equal(await error.textContent(), "registry.device: wg1 has no tunnel address to listen on");
    assert.equal(await zone.inputValue(), "mesh.home.arpa", "the refusal keeps the form as it was");

    await page.evaluate(() => delete window.__SCENARIO__.setupError);
    await zone.press("Enter");
    await page.locator('[data-panel="registry-mode"]').waitFor();
    assert.deepEqual(await calls(page, "enable_registry"), [
      { device: "wg1", zone: "mesh.home.arpa" },
      { device: "wg1", zone: "mesh.home.arpa" },
    ]);
    assert.equal(await page.locator('[data-panel="registry-setup"]').count(), 0);
    await done(page);
  });

  test("an interface configured without its zone and registries shows how finding them goes", async () => {
    const s = fx.enabled();
    s.interfaces[0].discovery = fx.looking();
    s.interfaces[0].zone = "";
    s.interfaces[0].registries = [];
    const page = await open({ status: s });
    const section = page.locator('section[data-interface="wg0"]');
    await section.locator('[data-discovery="looking"]').waitFor();
    assert.equal(await section.locator('[data-discovery="looking"]').textContent(), "looking for a registry among the peers…");
    assert.equal(await section.locator(".zone").count(), 0, "no zone yet");
    assert.match(await section.textContent(), /No registry found yet\./);

    s.interfaces[0].discovery = fx.notFound();
    await page.evaluate((st) => window.__mock.emit("punchwire://status", st), s);
    const alert = section.locator('[data-discovery="not-found"]');
    await alert.waitFor();
    assert.equal(await alert.getAttribute("role"), "alert");
    assert.equal(await alert.textContent(), fx.notFound().text);
    await shot(page, "interface-discovery-not-found");

    await page.evaluate((st) => window.__mock.emit("punchwire://status", st), fx.enabled());
    await section.locator('[data-discovery="found"]').waitFor();
    assert.equal(await section.locator('[data-discovery="found"]').textContent(), "found: registry 10.99.0.1, zone example.com.");
    assert.equal(await section.locator(".zone").textContent(), "example.com.");
    await done(page);
  });
});

describe("recent activity", () => {
  const lines = (page) => page.locator('[data-panel="activity"] li');

  test("what happened before the window opened is shown, newest first, at the time it happened", async () => {
    const sent = fx.events();
    const page = await open({ status: fx.allDirect(), recentEvents: sent }, { timezoneId: "UTC" });
    await lines(page).nth(sent.length - 1).waitFor();
    assert.equal(await lines(page).count(), sent.length);
    assert.deepEqual(
      await lines(page).evaluateAll((li) => li.map((l) => l.dataset.event)),
      sent.map((e) => e.type).reverse(),
      "newest first",
    );
    const first = lines(page).first();
    assert.equal(await first.locator("time").textContent(), "24 Nov 16:00:14", "the service's time, not when the window read it");
    assert.equal(await first.locator("time").getAttribute("datetime"), new Date(sent.at(-1).at).toISOString());
    assert.match(await lines(page).last().textContent(), /^24 Nov 16:00:00 bob: endpoint 203\.0\.113\.9:40000 → 203\.0\.113\.9:51820$/);
    assert.equal((await calls(page, "recent_events")).length, 1);
    await shot(page, "recent-activity");
    await done(page);
  });

  test("an event in the recent list that also arrives live is shown once", async () => {
    const [a, b] = fx.events();
    const page = await open({ status: fx.allDirect(), recentEvents: [a, b] });
    await lines(page).nth(1).waitFor();
    // The same event as the stream carries it, its fields in another order.
    const again = Object.fromEntries(Object.entries(b).reverse());
    const later = { type: "reloaded", at: b.at + 5000 };
    await page.evaluate((e) => window.__mock.emit("punchwire://event", e), again);
    await page.evaluate((e) => window.__mock.emit("punchwire://event", e), later);
    await page.locator('[data-panel="activity"] li[data-event="reloaded"]').waitFor();
    assert.deepEqual(await lines(page).evaluateAll((li) => li.map((l) => l.dataset.event)), ["reloaded", "peer-health-changed", "endpoint-changed"]);
    await done(page);
  });

  test("an event that arrives live before the recent list is read is shown once too", async () => {
    const [a, b] = fx.events();
    const page = await open({ status: fx.allDirect(), recentEvents: [a, b], holdRecentEvents: true });
    await page.locator("table.peers").waitFor();
    await page.evaluate((e) => window.__mock.emit("punchwire://event", e), b);
    await lines(page).first().waitFor();
    await page.evaluate(() => window.__mock.releaseRecentEvents());
    await page.locator('[data-panel="activity"] li[data-event="endpoint-changed"]').waitFor();
    assert.deepEqual(await lines(page).evaluateAll((li) => li.map((l) => l.dataset.event)), ["peer-health-changed", "endpoint-changed"]);
    await done(page);
  });

  test("with nothing in the list it says so truly, for a service with and without recent events", async () => {
    let page = await open({ status: fx.allDirect() });
    await page.waitForFunction(() => window.__mock.calls.some((c) => c.cmd === "recent_events"));
    const empty = page.locator('[data-empty="activity"]');
    await empty.waitFor();
    assert.equal(await empty.textContent(), "Nothing has happened yet.");
    await done(page);

    page = await open({ status: fx.allDirect(), recentEventsError: { kind: "refused", message: "bad request: unknown command `recent-events`" } });
    await page.locator('[data-empty="activity"]', { hasText: "since the window opened" }).waitFor();
    await page.evaluate(() => window.__mock.emit("punchwire://event", { type: "reloaded" }));
    await lines(page).first().waitFor();
    assert.match(await lines(page).first().textContent(), /configuration reloaded$/);
    await done(page);
  });
});

describe("updates under the pointer", () => {
  test("a status update changes only what changed: the buttons and rows a user is on stay", async () => {
    const page = await open({ status: fx.allDirect() });
    await page.locator("table.peers").waitFor();
    const aliceKey = fx.peer("alice").public_key;
    await page.evaluate((key) => {
      window.__held = {
        pause: document.querySelector('button[data-action="pause-all"]'),
        tab: document.querySelector('button[data-tab="settings"]'),
        row: document.querySelector(`tr[data-peer="${key}"]`),
      };
    }, aliceKey);

    // The periodic update: the same peers, a newer handshake age.
    const newer = fx.status({ peers: [fx.peer("registry"), fx.peer("alice", { latest_handshake_age_secs: 3 }), fx.peer("bob")] });
    await page.evaluate((s) => window.__mock.emit("punchwire://status", s), newer);
    await row(page, aliceKey).locator("td", { hasText: "3 s ago" }).waitFor();

    const still = await page.evaluate(() => Object.fromEntries(Object.entries(window.__held).map(([k, el]) => [k, el.isConnected])));
    assert.deepEqual(still, { pause: true, tab: true, row: true }, "a click landing during the update reaches the node it aimed at");

    // A change of state does replace what it changes: the button now resumes.
    await page.evaluate((s) => window.__mock.emit("punchwire://status", s), fx.status({ paused: true }));
    await page.locator('button[data-action="resume-all"]').waitFor();
    assert.equal(await page.evaluate(() => window.__held.pause.isConnected), false);
    await done(page);
  });
});

describe("settings", () => {
  async function openSettings(scenario) {
    const page = await open({ status: fx.allDirect(), config: fx.config(), ...scenario });
    await page.locator('[data-tab="settings"]').click();
    await page.locator("form.settings-form").waitFor();
    return page;
  }

  test("shows the configuration and saves edits through set_config", async () => {
    const page = await openSettings({});
    assert.equal(await page.locator('[id="interface[0].zone"]').inputValue(), "example.com.");
    assert.equal(await page.locator('[id="interface[0].registries"]').inputValue(), "10.99.0.1:53\n10.98.0.1:53");
    await page.locator('[id="interface[0].interval"]').fill("1m");
    await page.locator('[data-action="save"]').click();
    await page.locator(".saved:not([hidden])").waitFor();
    const [sent] = await calls(page, "set_config");
    const expected = fx.config().config;
    expected.interface[0].interval = "1m";
    assert.deepEqual(sent, { config: expected, revision: "rev-1" }, "the whole configuration goes back, unknown parts untouched, with the revision it was read at");
    assert.match(await page.locator('[id="interface[0].interval"] ~ .hint').textContent(), /Default: 30s\./, "the service's default, as it said");
    await shot(page, "settings");
    await done(page);
  });

  test("relay and candidates are switches, shown at the service's defaults until set", async () => {
    const page = await openSettings({});
    const relay = page.locator('[id="interface[0].relay"]');
    const candidates = page.locator('[id="interface[0].candidates"]');
    assert.equal(await relay.isChecked(), false, "relay is off unless turned on");
    assert.equal(await candidates.isChecked(), true, "candidates are on unless turned off");
    await relay.check();
    await candidates.uncheck();
    await page.locator('[data-action="save"]').click();
    await page.locator(".saved:not([hidden])").waitFor();
    const [sent] = await calls(page, "set_config");
    assert.equal(sent.config.interface[0].relay, true);
    assert.equal(sent.config.interface[0].candidates, false);
    await done(page);
  });

  test("status updates while a user types leave the field focused and every keystroke in it", async () => {
    const page = await openSettings({});
    const zone = page.locator('[id="interface[0].zone"]');
    await zone.fill("");
    await zone.focus();
    await page.keyboard.type("lab.pu");
    // The service's periodic update arrives mid-word, as it did in the lab.
    const newer = fx.status({ peers: [fx.peer("registry"), fx.peer("alice", { latest_handshake_age_secs: 3 }), fx.peer("bob")] });
    await page.evaluate((s) => window.__mock.emit("punchwire://status", s), newer);
    await page.evaluate(() =>
      window.__mock.emit("punchwire://event", { type: "endpoint-changed", iface: "wg0", peer: "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=", old: null, new: "203.0.113.9:51820", registry: "10.99.0.1:53" }),
    );
    await page.keyboard.type("nchwire.test.");
    assert.equal(await zone.inputValue(), "lab.punchwire.test.");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "interface[0].zone", "the field keeps the focus");
    await done(page);
  });

  test("a validation error is shown next to the field it names", async () => {
    const page = await openSettings({
      setConfigError: {
        kind: "invalid-config",
        key: "interface[0].zone",
        message: 'interface[0].zone: "example..com." cannot be a zone: it has an empty label (two dots in a row?)',
      },
    });
    await page.locator('[id="interface[0].zone"]').fill("example..com.");
    await page.locator('[data-action="save"]').click();
    const err = page.locator('[data-error-for="interface[0].zone"]');
    await err.waitFor();
    assert.match(await err.textContent(), /it has an empty label/);
    assert.equal(await page.locator('[id="interface[0].zone"]').getAttribute("aria-invalid"), "true");
    assert.equal(await page.locator(".field-error:not([hidden])").count(), 1, "only that field shows an error");
    assert.equal(await page.locator('[data-error="form"]').isHidden(), true);
    await shot(page, "settings-error");
    await done(page);
  });

  test("an error about one list item lands on the list; one without a key on the form", async () => {
    const page = await openSettings({
      setConfigError: { kind: "invalid-config", key: "interface[0].registries[1]", message: "0.0.0.0:53 is not an address a query can be sent to" },
    });
    await page.locator('[data-action="save"]').click();
    await page.locator('[data-error-for="interface[0].registries"]:not([hidden])').waitFor();

    await page.evaluate(() => (window.__SCENARIO__.setConfigError = { kind: "refused", message: "cannot write /etc/punchwire/config.toml: read-only file system" }));
    await page.locator('[data-action="save"]').click();
    const formError = page.locator('[data-error="form"]:not([hidden])');
    await formError.waitFor();
    assert.match(await formError.textContent(), /read-only file system/);
    assert.equal(await page.locator(".field-error:not([hidden])").count(), 0, "the earlier field error is cleared");
    await done(page);
  });

  test("each save builds on the revision the last one answered with", async () => {
    const page = await openSettings({ savedRevision: "rev-2" });
    await page.locator('[data-action="save"]').click();
    await page.locator(".saved:not([hidden])").waitFor();
    await page.locator('[id="interface[0].poll"]').fill("2s");
    await page.locator('[data-action="save"]').click();
    await page.waitForFunction(() => window.__mock.calls.filter((c) => c.cmd === "set_config").length === 2);
    const sent = await calls(page, "set_config");
    assert.deepEqual(sent.map((s) => s.revision), ["rev-1", "rev-2"]);
    await done(page);
  });

  test("a save refused as a conflict offers to reload the settings, and reloading re-reads them", async () => {
    const page = await openSettings({
      setConfigError: { kind: "conflict", message: "the settings were saved by someone else since you read them: read them again, then make your change" },
    });
    await page.locator('[id="interface[0].interval"]').fill("1m");
    await page.locator('[data-action="save"]').click();
    const offer = page.locator('[data-error="form"]:not([hidden]) [data-action="reload-settings"]');
    await offer.waitFor();
    assert.match(await page.locator('[data-error="form"]').textContent(), /saved by someone else/);
    assert.equal(await page.locator(".saved:not([hidden])").count(), 0, "nothing claims to be saved");
    await shot(page, "settings-conflict");

    // What the other client saved is what the service now holds.
    await page.evaluate(() => {
      const doc = window.__SCENARIO__.config;
      doc.revision = "rev-2";
      doc.config.interface[0].zone = "theirs.example.";
      delete window.__SCENARIO__.setConfigError;
    });
    await offer.click();
    await page.waitForFunction(() => document.querySelector('[id="interface[0].zone"]')?.value === "theirs.example.");
    assert.equal((await calls(page, "get_config")).length, 2, "the settings were read again");
    assert.equal(await page.locator('[id="interface[0].interval"]').inputValue(), "30s", "the edit based on old settings is gone");

    await page.locator('[data-action="save"]').click();
    await page.locator(".saved:not([hidden])").waitFor();
    const sent = await calls(page, "set_config");
    assert.equal(sent.at(-1).revision, "rev-2", "the next save builds on what was read again");
    await done(page);
  });

  test("an interface set up by its name alone keeps its zone and registries left out", async () => {
    const doc = fx.config();
    const { zone: _zone, registries: _registries, ...byName } = doc.config.interface[0];
    doc.config.interface = [byName];
    const page = await openSettings({ config: doc });
    assert.equal(await page.locator('[id="interface[0].zone"]').inputValue(), "");
    assert.equal(await page.locator('[id="interface[0].registries"]').inputValue(), "");
    assert.match(await page.locator('[id="interface[0].registries"] ~ .hint').textContent(), /Empty: found among the peers\./);
    await page.locator('[id="interface[0].poll"]').fill("2s");
    await page.locator('[data-action="save"]').click();
    await page.locator(".saved:not([hidden])").waitFor();
    const [sent] = await calls(page, "set_config");
    assert.deepEqual(sent.config.interface, [{ ...byName, poll: "2s" }], "no empty zone or registries written for the service to refuse");
    await done(page);
  });

  test("a service without get-config says so instead of an empty form", async () => {
    const page = await open({
      status: fx.allDirect(),
      configError: { kind: "unsupported", message: "this service does not support editing settings from the app yet (it has no get-config command): edit /etc/punchwire/config.toml and run `punchwire reload`" },
    });
    await page.locator('[data-tab="settings"]').click();
    const err = page.locator('[data-error="load"]');
    await err.waitFor();
    assert.match(await err.textContent(), /edit \/etc\/punchwire\/config.toml/);
    await done(page);
  });

  test("notifications can be turned off", async () => {
    const page = await openSettings({ appSettings: { notifications: true } });
    const box = page.locator("#notifications");
    await page.waitForFunction(() => document.querySelector("#notifications")?.checked === true);
    await box.uncheck();
    await page.waitForFunction(() => window.__mock.calls.some((c) => c.cmd === "set_app_settings"));
    assert.deepEqual(await calls(page, "set_app_settings"), [{ settings: { notifications: false } }]);
    await done(page);
  });
});
