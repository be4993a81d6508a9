"""A stand-in for the Punchwire service's control socket (JSON lines, protocol v1), for
driving the real tray app in tests: answers hello/status/pause/resume, records every
command, and can push events to subscribers."""

import copy
import json
import os
import socket
import threading

# The repository's golden status document (what the real service sends): the statuses
# served here are derived from it, so a change to the contract shows up in these tests.
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures")
with open(os.path.join(FIXTURES, "status.json")) as f:
    GOLDEN = json.load(f)

# What `hello` answers: an older service than the real one, without the settings commands.
COMMANDS = ["status", "hello", "subscribe", "pause", "resume"]


def peer(name, key, state="direct", endpoint="198.51.100.7:41234", ip="10.99.0.2/32", reason=None, text=None):
    """A peer shaped like the golden status's peers, with the given name, key and state;
    `reason` is the typed reason (an object with a `kind`), `text` its words (the real
    service writes both)."""
    template = next(p for p in GOLDEN["interfaces"][0]["peers"] if p["health"]["state"] == "direct")
    if reason is None:
        reason = template["health"]["reason"] if state == "direct" else {"kind": "no-handshake-yet", "decision": None}
    if text is None:
        text = template["health"]["text"] if state == "direct" else "no handshake yet"
    p = copy.deepcopy(template)
    p.update({"public_key": key, "name": name, "tunnel_ips": [ip], "endpoint": endpoint,
              "endpoint_source": "registry", "health": {"state": state, "reason": reason, "text": text}})
    return p


def summary(interfaces):
    """The verdict the real service words (crates/punchwire-service/src/report.rs)."""
    mesh = [p for i in interfaces for p in i["peers"] if p["health"]["state"] != "registry"]
    direct = sum(1 for p in mesh if p["health"]["state"] == "direct")
    if interfaces and all(i["paused"] for i in interfaces):
        return {"state": "paused", "text": "Discovery paused"}
    if not mesh:
        return {"state": "no-peers", "text": "No peers yet"}
    if direct == len(mesh):
        return {"state": "all-direct", "text": "The peer is direct" if len(mesh) == 1 else f"All {len(mesh)} peers direct"}
    text = "The peer is not direct" if len(mesh) == 1 else f"{direct} of {len(mesh)} peers direct"
    return {"state": "some-not-direct", "text": text}


ALICE = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
BOB = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="


def status(peers, paused=False):
    """The golden status with one interface holding `peers`, no registries, no registry mode."""
    doc = copy.deepcopy(GOLDEN)
    iface = doc["interfaces"][0]
    iface.update({"paused": paused, "peers": peers, "registries": []})
    doc["interfaces"] = [iface]
    doc["registry"] = None
    doc["summary"] = summary(doc["interfaces"])
    return doc


class FakeService:
    def __init__(self, path):
        self.path = path
        self.status = status([peer("alice", ALICE), peer("bob", BOB, ip="10.99.0.3/32", endpoint="203.0.113.9:51820")])
        self.commands = []
        self.subscribers = []
        self.lock = threading.Lock()
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        f = conn.makefile("rw")
        for line in f:
            req = json.loads(line)
            cmd = req["cmd"]
            with self.lock:
                self.commands.append(cmd)
                result = None
                if cmd == "status":
                    result = dict(self.status, summary=summary(self.status["interfaces"]))
                elif cmd in ("pause", "resume"):
                    for i in self.status["interfaces"]:
                        i["paused"] = cmd == "pause"
                elif cmd == "subscribe":
                    self.subscribers.append(f)
                elif cmd == "hello":
                    result = {"protocol": 1, "service": GOLDEN["version"], "commands": COMMANDS}
                else:
                    self._write(f, {"v": 1, "id": req["id"], "ok": False,
                                    "error": {"code": "bad-request", "message": f"bad request: unknown command `{cmd}`"}})
                    continue
                self._write(f, {"v": 1, "id": req["id"], "ok": True, "result": result})

    @staticmethod
    def _write(f, obj):
        try:
            f.write(json.dumps(obj) + "\n")
            f.flush()
        except OSError:
            pass

    def push(self, event, new_status=None):
        """Changes the status (if given) and tells subscribers, like the service does."""
        with self.lock:
            if new_status is not None:
                self.status = new_status
            for f in self.subscribers:
                self._write(f, {"v": 1, "event": event})

    def count(self, cmd):
        with self.lock:
            return self.commands.count(cmd)

    def close(self):
        self.sock.close()
        for f in self.subscribers:
            try:
                f.close()
            except OSError:
                pass
        if os.path.exists(self.path):
            os.unlink(self.path)
