#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into fuzz/seeds/<target>/: real queries
(SRV, PTR, A, AAAA, TXT, SOA, NS, with and without EDNS, and a few a registry must
refuse), a wireguard-go and a boringtun UAPI dump, control request lines and
configuration files. scripts/fuzz --merge-seeds folds them into fuzz/corpus/."""
import base64
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES = {"A": 1, "NS": 2, "SOA": 6, "PTR": 12, "TXT": 16, "AAAA": 28, "SRV": 33, "ANY": 255}


def label(n):
    """The DNS label of the test key n (bytes [n, 3, 3, ...]), as the registry writes it."""
    return base64.b32encode(bytes([n] + [3] * 31)).decode().lower()


def name(text):
    out = b""
    for part in text.rstrip(".").split("."):
        out += bytes([len(part)]) + part.encode()
    return out + b"\0"


def query(qname, qtype, ident=0x1234, flags=0x0100, edns=None, qdcount=1):
    header = struct.pack(">HHHHHH", ident, flags, qdcount, 0, 0, 1 if edns else 0)
    body = name(qname) + struct.pack(">HH", TYPES.get(qtype, qtype) if isinstance(qtype, str) else qtype, 1)
    if edns:
        body += b"\0" + struct.pack(">HHIH", 41, edns, 0, 0)
    return header + body


ZONE = "example.com"
INSTANCE = f"{label(1)}._wireguard._udp.{ZONE}"
queries = {
    "ptr": query(f"_wireguard._udp.{ZONE}", "PTR"),
    "ptr-edns": query(f"_wireguard._udp.{ZONE}", "PTR", edns=1232),
    "srv": query(INSTANCE, "SRV"),
    "srv-edns": query(INSTANCE, "SRV", edns=4096),
    "srv-upper": query(INSTANCE.upper(), "SRV"),
    "txt": query(INSTANCE, "TXT"),
    "a": query(INSTANCE, "A"),
    "aaaa": query(f"{label(2)}._wireguard._udp.{ZONE}", "AAAA"),
    "soa": query(ZONE, "SOA", edns=1232),
    "ns": query(ZONE, "NS"),
    "ns1-a": query(f"ns1.{ZONE}", "A"),
    "miss": query(f"{label(9)}._wireguard._udp.{ZONE}", "SRV", edns=1232),
    "other-zone": query("example.org", "A"),
    "any": query(INSTANCE, "ANY"),
    "response": query(INSTANCE, "SRV", flags=0x8180),
    "iquery": query(INSTANCE, "SRV", flags=0x0800),
    "two-questions": query(INSTANCE, "SRV", qdcount=2),
    "edns-v1": query(INSTANCE, "SRV", edns=1232)[:-6] + struct.pack(">I", 0x00010000) + b"\0\0",
}

now = 1_750_000_000
peer_hex = "6a5b1f4fd5a00a1a4c3c7f6e2b4e89a9f2bfa6b5e7c1b0bb1f2e3c4d5e6f7081"
private_hex = "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
uapi = {
    "wireguard-go": (
        f"private_key={private_hex}\nlisten_port=51820\nfwmark=0\n"
        f"public_key={peer_hex}\npreshared_key={'11' * 32}\nprotocol_version=1\n"
        f"endpoint=[2001:db8::1]:40000\nlast_handshake_time_sec={now - 42}\n"
        "last_handshake_time_nsec=500000000\ntx_bytes=92\nrx_bytes=180\n"
        "persistent_keepalive_interval=25\nallowed_ip=10.99.0.2/32\nallowed_ip=fd00::/64\n"
        f"public_key={'ab' * 32}\nendpoint=198.51.100.2:51820\nallowed_ip=10.99.0.3/32\n"
        "errno=0\n\n"
    ),
    "boringtun": (
        f"own_public_key={'cd' * 32}\nlisten_port=51820\n"
        f"public_key={peer_hex}\nendpoint=198.51.100.2:51820\nlast_handshake_time_sec=12\n"
        "last_handshake_time_nsec=0\nrx_bytes=0\ntx_bytes=0\nallowed_ip=10.99.0.2/32\n"
        "errno=0\n\n"
    ),
    "refused": "errno=-22\n\n",
}

control = {
    "status": '{"v":1,"id":1,"cmd":"status"}',
    "hello": '{"v":1,"id":2,"cmd":"hello"}',
    "pause": '{"v":1,"id":3,"cmd":"pause","interface":"wg0"}',
    "resume-all": '{"v":1,"id":4,"cmd":"resume"}',
    "set-config": '{"v":1,"id":5,"cmd":"set-config","revision":"abc","config":'
    '{"interface":[{"name":"wg0","zone":"example.com.","registries":["10.99.0.1:53"]}]}}',
    "unknown": '{"v":1,"id":6,"cmd":"launch-missiles"}',
    "old-version": '{"v":2,"id":7,"cmd":"status"}',
}

config = {
    "full": """[control]
socket = "/run/punchwire/control.sock"
group = "punchwire"

[[interface]]
name = "wg0"
zone = "example.com."
registries = ["10.99.0.1:53", "[fd99::1]:53"]
interval = "30s"
poll = "1s"
handshake_threshold = "150s"
paused = false
allow_registry_outside_tunnel = true

[registry]
zone = "example.com."
device = "wg-reg"
listen = ["10.99.0.1:53"]
serve_self = true
self_endpoint = "192.0.2.10:51820"
self_allowed = ["10.99.0.1/32"]
allow = ["10.98.0.0/24"]
refresh = "1s"
""",
    "minimal": '[[interface]]\nname = "wg0"\nzone = "example.com"\nregistries = ["10.99.0.1:53"]\n',
    "registry-only": '[registry]\nzone = "example.com."\ndevice = "wg0"\n',
}


def write(target, seeds):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    for key, data in seeds.items():
        with open(os.path.join(d, key), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


write("dns_wire", queries)
write("registry_answer", queries)
write("uapi_get", uapi)
write("control_request", control)
write("service_config", config)
