#!/usr/bin/python3
"""The real tray app against a fake service, under Xvfb and a private D-Bus session:
the StatusNotifierItem registers with our watcher, its menu lists the peers and the
toggle, clicking Pause reaches the service and the menu turns to Resume, a burst of
changes becomes one desktop notification, Quit ends the app.

Run: xvfb-run -a dbus-run-session -- /usr/bin/python3 tray_smoke.py PATH/TO/punchwire-tray
"""

import os
import subprocess
import sys
import tempfile
import threading
import time

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

sys.path.insert(0, os.path.dirname(__file__))
from fake_service import ALICE, BOB, FakeService, peer, status  # noqa: E402

DBusGMainLoop(set_as_default=True)
WATCHER = "org.kde.StatusNotifierWatcher"


class Watcher(dbus.service.Object):
    """Just enough of a StatusNotifierWatcher for an item to register."""

    def __init__(self, bus):
        self.items = []
        self.name = dbus.service.BusName(WATCHER, bus)
        super().__init__(bus, "/StatusNotifierWatcher")

    @dbus.service.method(WATCHER, in_signature="s", sender_keyword="sender")
    def RegisterStatusNotifierItem(self, service, sender=None):
        path = service if service.startswith("/") else "/StatusNotifierItem"
        name = sender if service.startswith("/") else service
        self.items.append((name, path))
        self.StatusNotifierItemRegistered(f"{name}{path}")

    @dbus.service.method(WATCHER, in_signature="s")
    def RegisterStatusNotifierHost(self, service):
        pass

    @dbus.service.signal(WATCHER, signature="s")
    def StatusNotifierItemRegistered(self, item):
        pass

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, iface, prop):
        return self.GetAll(iface)[prop]

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, iface):
        return {
            "IsStatusNotifierHostRegistered": dbus.Boolean(True),
            "ProtocolVersion": dbus.Int32(0),
            "RegisteredStatusNotifierItems": dbus.Array([f"{n}{p}" for n, p in self.items], signature="s"),
        }


class Notifications(dbus.service.Object):
    """A notification daemon that only records what it is asked to show."""

    IFACE = "org.freedesktop.Notifications"

    def __init__(self, bus):
        self.shown = []
        self.name = dbus.service.BusName(self.IFACE, bus)
        super().__init__(bus, "/org/freedesktop/Notifications")

    @dbus.service.method(IFACE, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app, replaces, icon, summary, body, actions, hints, timeout):
        self.shown.append((str(summary), str(body)))
        return dbus.UInt32(len(self.shown))

    @dbus.service.method(IFACE, out_signature="as")
    def GetCapabilities(self):
        return ["body"]

    @dbus.service.method(IFACE, out_signature="ssss")
    def GetServerInformation(self):
        return ("fake", "punchwire-tests", "1", "1.2")

    @dbus.service.method(IFACE, in_signature="u")
    def CloseNotification(self, id):
        pass


def wait_for(what, check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def labels(bus, item):
    """(id, label) of every menu entry, submenus included, in order."""
    name, path = item
    props = dbus.Interface(bus.get_object(name, path), dbus.PROPERTIES_IFACE)
    menu_path = props.Get("org.kde.StatusNotifierItem", "Menu")
    menu = dbus.Interface(bus.get_object(name, menu_path), "com.canonical.dbusmenu")
    _, layout = menu.GetLayout(0, -1, [])
    out = []

    def walk(node):
        node_id, node_props, children = node
        if "label" in node_props:
            out.append((int(node_id), str(node_props["label"]).replace("_", "")))
        for child in children:
            walk(child)

    walk(layout)
    return menu, out


def main(binary):
    bus = dbus.SessionBus()
    watcher = Watcher(bus)
    notifications = Notifications(bus)
    loop = GLib.MainLoop()
    threading.Thread(target=loop.run, daemon=True).start()

    tmp = tempfile.mkdtemp(prefix="punchwire-tray-test-")
    service = FakeService(os.path.join(tmp, "control.sock"))
    env = dict(os.environ, PUNCHWIRE_SOCKET=service.path, XDG_CONFIG_HOME=os.path.join(tmp, "config"), PUNCHWIRE_LOG="info")
    app = subprocess.Popen([binary, "--hidden"], env=env)
    failures = []
    try:
        item = wait_for("the tray item to register with the watcher", lambda: watcher.items and watcher.items[0])
        wait_for("subscribe", lambda: service.count("subscribe") >= 1)

        def menu_has(label):
            return lambda: any(l == label for _, l in labels(bus, item)[1])

        wait_for("the menu to show alice", menu_has("alice: direct"))
        _, entries = labels(bus, item)
        names = [l for _, l in entries]
        print("menu:", names)
        for expected in ["Punchwire: All 2 peers direct", "Open Punchwire", "Pause discovery", "alice: direct",
                         "Copy tunnel IP 10.99.0.2", "bob: direct", "Copy tunnel IP 10.99.0.3", "Quit Punchwire"]:
            if expected not in names:
                failures.append(f"menu lacks {expected!r}: {names}")

        menu, entries = labels(bus, item)
        pause_id = next(i for i, l in entries if l == "Pause discovery")
        menu.Event(pause_id, "clicked", dbus.String("", variant_level=1), dbus.UInt32(0))
        wait_for("the pause command at the service", lambda: service.count("pause") == 1)
        wait_for("the menu to offer Resume", menu_has("Resume discovery"))
        print("pause clicked: the service got it and the menu offers Resume")

        # A burst: alice's endpoint changes, then bob stops being direct.
        s = status([peer("alice", ALICE, endpoint="198.51.100.7:50000"),
                    peer("bob", BOB, ip="10.99.0.3/32", endpoint="203.0.113.9:51820")], paused=True)
        service.push(endpoint_changed(ALICE, "alice", "198.51.100.7:41234", "198.51.100.7:50000"), s)
        time.sleep(0.3)
        reason = {"kind": "handshake-old", "age_secs": 150}
        s = status([peer("alice", ALICE, endpoint="198.51.100.7:50000"),
                    peer("bob", BOB, ip="10.99.0.3/32", endpoint="203.0.113.9:51820", state="stale",
                         reason=reason, text="latest handshake 150 s ago")], paused=True)
        service.push({"type": "peer-health-changed", "iface": "wg0", "peer": BOB, "name": "bob", "from": "direct",
                      "to": "stale", "reason": reason, "text": "latest handshake 150 s ago"}, s)
        shown = wait_for("a notification", lambda: notifications.shown, timeout=15)
        time.sleep(4)  # longer than the coalescing window: a second one would be here by now
        print("notifications:", notifications.shown)
        if len(notifications.shown) != 1:
            failures.append(f"expected one notification for the burst, got {notifications.shown}")
        summary, body = shown[0]
        if "alice: endpoint 198.51.100.7:41234 → 198.51.100.7:50000" not in body or "bob is no longer direct: latest handshake 150 s ago" not in body:
            failures.append(f"the notification does not say what changed: {summary!r} {body!r}")

        menu, entries = labels(bus, item)
        quit_id = next(i for i, l in entries if l == "Quit Punchwire")
        menu.Event(quit_id, "clicked", dbus.String("", variant_level=1), dbus.UInt32(0))
        code = app.wait(timeout=15)
        if code != 0:
            failures.append(f"Quit should end the app with 0, got {code}")
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    try:
        notifications_off(binary, service, env, tmp, notifications, failures)
    finally:
        service.close()
        loop.quit()
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("tray smoke test passed")


def endpoint_changed(key, name, old, new):
    """An `endpoint-changed` event in the service's shape."""
    return {"type": "endpoint-changed", "iface": "wg0", "peer": key, "name": name, "old": old, "new": new,
            "registry": "10.99.0.1:53"}


def notifications_off(binary, service, env, tmp, notifications, failures):
    """With notifications turned off in the app's settings, a change shows nothing; the
    app's log says when it let a burst go, so the test waits on that, not on a clock."""
    settings_dir = os.path.join(env["XDG_CONFIG_HOME"], "org.punchwire.tray")
    os.makedirs(settings_dir, exist_ok=True)
    with open(os.path.join(settings_dir, "settings.json"), "w") as f:
        f.write('{"notifications": false}')
    shown_before = len(notifications.shown)
    log_path = os.path.join(tmp, "app-quiet.log")
    reads = service.count("status")
    with open(log_path, "w") as log:
        app = subprocess.Popen([binary, "--hidden"], env=dict(env, NO_COLOR="1"), stderr=log)
    try:
        # Once the app has read the status, it has subscribed too.
        wait_for("the app's first status read", lambda: service.count("status") > reads)
        s = status([peer("alice", ALICE, endpoint="198.51.100.7:60000"),
                    peer("bob", BOB, ip="10.99.0.3/32", endpoint="203.0.113.9:51820")], paused=True)
        service.push(endpoint_changed(ALICE, "alice", "198.51.100.7:50000", "198.51.100.7:60000"), s)
        wait_for("the app to let the burst go unshown", lambda: "notifications are off" in open(log_path).read())
        if len(notifications.shown) != shown_before:
            failures.append(f"a notification was shown although they are off: {notifications.shown[shown_before:]}")
        else:
            print("notifications off: the change was not shown")
    finally:
        app.terminate()
        app.wait(timeout=15)


if __name__ == "__main__":
    main(sys.argv[1])
