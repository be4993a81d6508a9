"""A stand-in for the Punchwire service's control socket (JSON lines, protocol v1), for
driving the real tray app in tests: answers status/pause/resume, records every command,
and can push events to subscribers."""

import json
import os
import socket
import threading


def peer(name, key, state="direct", endpoint="198.51.100.7:41234", ip="10.99.0.2/32", reason=None, text=None):
    """A peer in the status's shape; `reason` is the typed reason (an object with a
    `kind`), `text` its words (the real service writes both)."""
    if reason is None:
        reason = {"kind": "fresh-handshake", "age_secs": 5} if state == "direct" else {"kind": "no-handshake-yet", "decision": None}
    if text is None:
        text = "handshake 5 s ago" if state == "direct" else "no handshake yet"
    return {
        "public_key": key, "name": name, "tunnel_ips": [ip], "endpoint": endpoint,
        "endpoint_source": "registry", "latest_handshake_age_secs": 5, "rx_bytes": 1000,
        "tx_bytes": 2000, "health": {"state": state, "reason": reason, "text": text}, "last_decision": None,
    }


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
    return {
        "version": "0.1.0", "config_path": "/etc/punchwire/config.toml", "registry": None,
        "interfaces": [{"name": "wg0", "zone": "example.com.", "paused": paused, "error": None,
                        "peers": peers, "registries": []}],
    }


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
                else:
                    self._write(f, {"v": 1, "id": req["id"], "ok": False,
                                    "error": {"code": "bad-request", "message": f"bad request: unknown variant `{cmd}`"}})
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
