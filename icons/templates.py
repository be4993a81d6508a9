#!/usr/bin/env python3
"""Draws the macOS menu-bar template icons (tray-*-template.png): black shapes on
transparency, which macOS recolours for light and dark menu bars. Same shapes as the
coloured tray icons (a ring and a check, !, pause bars or a cross), since a template has
no colour to tell the states apart. 44 px = 22 pt at 2x. Pure Python (no ImageMagick)."""
import math
import struct
import sys
import zlib

SIZE = 44
SS = 4  # supersampling per axis


def seg(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def ring(x, y):
    d = math.hypot(x - 128, y - 128)
    return 96 <= d <= 122


def glyph(name):
    lines = {
        "direct": [((80, 132), (114, 166), 15), ((114, 166), (178, 96), 15)],
        "some-not-direct": [((128, 78), (128, 134), 15), ((128, 178), (128, 178), 17)],
        "paused": [((102, 86), (102, 170), 15), ((154, 86), (154, 170), 15)],
        "unreachable": [((94, 94), (162, 162), 14), ((162, 94), (94, 162), 14)],
    }[name]

    def inside(x, y):
        for (ax, ay), (bx, by), r in lines:
            if (ax, ay) == (bx, by):
                if math.hypot(x - ax, y - ay) <= r:
                    return True
            elif seg(x, y, ax, ay, bx, by) <= r:
                return True
        return False

    return inside


def png(path, alpha):
    rows = b"".join(
        b"\x00" + b"".join(struct.pack("4B", 0, 0, 0, a) for a in row) for row in alpha
    )

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(rows, 9)))
        f.write(chunk(b"IEND", b""))


def draw(name):
    inside = glyph(name)
    alpha = []
    for y in range(SIZE):
        row = []
        for x in range(SIZE):
            hits = 0
            for sy in range(SS):
                for sx in range(SS):
                    # Map into the 256-unit design space of icons/generate.sh.
                    u = (x + (sx + 0.5) / SS) * 256 / SIZE
                    v = (y + (sy + 0.5) / SS) * 256 / SIZE
                    hits += ring(u, v) or inside(u, v)
            row.append(round(255 * hits / (SS * SS)))
        alpha.append(row)
    png(f"tray-{name}-template.png", alpha)


for state in sys.argv[1:] or ["direct", "some-not-direct", "paused", "unreachable"]:
    draw(state)
