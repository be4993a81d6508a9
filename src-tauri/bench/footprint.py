#!/usr/bin/python3
"""The tray app's footprint against a live service (a benchmark, not a test): memory and
CPU with the window closed (target: RSS < 100 MB, CPU < 0.5%), then with it open.

`punchwire demo` provides the live service (the NAT lab, alice's service on a socket of
ours), so the app sees what it sees on a real desktop: a status read at start and after
events, the events of each discovery pass. Figures are for the app's whole process tree
(WebKit runs the window in child processes): RSS of the app itself, and PSS summed over
the tree, which counts shared libraries once.

Run as root, with a release build of the app (`npm run tauri -- build --no-bundle` in
frontend/) and of punchwire with its demo (`cargo build --release -p punchwire --features demo`):
  xvfb-run -a dbus-run-session -- /usr/bin/python3 src-tauri/bench/footprint.py \\
      target/release/punchwire-tray target/release/punchwire [SECONDS]
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import dbus  # noqa: E402
from dbus.mainloop.glib import DBusGMainLoop  # noqa: E402
from gi.repository import GLib  # noqa: E402
from tray_smoke import Notifications, Watcher, wait_for  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
TARGET_RSS_MB = 100
TARGET_CPU = 0.5


def children(pid):
    """pid and every descendant, from /proc's parent links."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parents.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                continue
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(parents.get(p, []))
    return tree


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def kib(pid, path, key):
    with open(f"/proc/{pid}/{path}") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def gl_driver_mb(pid):
    """RSS of the GL driver GTK loads when it opens an X display: under Xvfb that is
    Mesa's software renderer with all of LLVM, a cost of the test display, not the app."""
    total, current = 0, ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5:
                current = head[5] if len(head) > 5 else ""
            elif head[0] == "Rss:" and ("/dri/" in current or "libLLVM" in current):
                total += int(head[1])
    return total / 1024


def measure(app_pid, seconds):
    """CPU % of one core and memory of the tree over `seconds`."""
    def sample():
        ticks, pss = 0, 0
        for p in children(app_pid):
            try:
                ticks += cpu_ticks(p)
                pss += kib(p, "smaps_rollup", "Pss")
            except OSError:
                continue  # a child that just left
        return ticks, pss

    ticks0, _ = sample()
    started = time.monotonic()
    peak_rss = peak_pss = 0
    while time.monotonic() - started < seconds:
        time.sleep(1)
        _, pss = sample()
        peak_pss = max(peak_pss, pss)
        peak_rss = max(peak_rss, kib(app_pid, "status", "VmRSS"))
    ticks1, pss = sample()
    elapsed = time.monotonic() - started
    cpu = 100.0 * (ticks1 - ticks0) / TICK / elapsed
    return {
        "cpu": cpu, "rss_mb": kib(app_pid, "status", "VmRSS") / 1024, "peak_rss_mb": peak_rss / 1024,
        "pss_mb": pss / 1024, "peak_pss_mb": peak_pss / 1024, "processes": len(children(app_pid)),
        "gl_mb": gl_driver_mb(app_pid),
    }


def report(title, m, targets):
    verdict = ""
    if targets:
        ok = m["peak_rss_mb"] < TARGET_RSS_MB and m["cpu"] < TARGET_CPU
        verdict = f"   targets RSS < {TARGET_RSS_MB} MB, CPU < {TARGET_CPU}%: {'met' if ok else 'NOT met'}"
    print(f"{title}: CPU {m['cpu']:.2f}% of a core; app RSS {m['rss_mb']:.1f} MB (peak {m['peak_rss_mb']:.1f}; "
          f"{m['gl_mb']:.1f} MB of it the GL driver); tree PSS {m['pss_mb']:.1f} MB (peak {m['peak_pss_mb']:.1f}) "
          f"in {m['processes']} processes{verdict}")


def main():
    app_bin, punchwire = (os.path.abspath(a) for a in sys.argv[1:3])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    Watcher(bus)  # the tray icon registers as on a desktop with a tray
    Notifications(bus)
    threading.Thread(target=GLib.MainLoop().run, daemon=True).start()

    scratch = tempfile.mkdtemp(prefix="punchwire-footprint-")
    control = os.path.join(scratch, "control.sock")
    env = dict(os.environ, PUNCHWIRE_SOCKET=control, XDG_CONFIG_HOME=os.path.join(scratch, "config"),
               PUNCHWIRE_LOG="warn")
    demo_log = open(os.path.join(scratch, "demo.log"), "w+")
    demo = subprocess.Popen([punchwire, "demo", "--socket", control], env=env, stdout=demo_log,
                            stderr=subprocess.STDOUT)
    app = None
    try:
        def live():
            if demo.poll() is not None:
                demo_log.seek(0)
                raise SystemExit(f"the demo exited:\n{demo_log.read()}")
            demo_log.seek(0)
            return "Live." in demo_log.read()
        wait_for("the demo's direct tunnel", live, timeout=180)

        app = subprocess.Popen([app_bin, "--hidden"], env=env)
        time.sleep(5)  # settle: start-up work is not idle work
        report(f"window closed, {seconds:.0f} s", measure(app.pid, seconds), targets=True)

        subprocess.run([app_bin], env=env, timeout=30)  # a second launch opens the window
        wait_for("the window's web view", lambda: len(children(app.pid)) > 1)
        time.sleep(5)
        report(f"window open,   {seconds:.0f} s", measure(app.pid, seconds), targets=False)
    finally:
        if app is not None:
            app.terminate()
            app.wait(10)
        demo.send_signal(signal.SIGINT)
        demo.wait(60)


if __name__ == "__main__":
    main()
