#!/usr/bin/env bash
# Draws the tray and app icons with ImageMagick (Debian: imagemagick); the macOS menu-bar
# templates with templates.py; and icon.ico (Windows) and icon.icns (macOS) from
# icon.png with Tauri's own `tauri icon` (frontend/'s @tauri-apps/cli: run
# `npm install` in frontend/ first). Each tray icon is a
# coloured disc with a white ring and a dark outline, so it reads on light and dark panels
# alike, and carries a shape as well as a colour (check, !, pause bars, cross) so the states
# differ for colour-blind users and on monochrome panels too.
set -euo pipefail
cd "$(dirname "$0")"
IM=/usr/bin/convert

# disc COLOUR OUT SIZE GLYPH-DRAW-ARGS...: drawn at 256 px, scaled down for smooth edges.
disc() {
  local colour=$1 out=$2 size=$3
  shift 3
  "$IM" -size 256x256 xc:none \
    -fill '#1b1f27' -draw 'circle 128,128 128,6' \
    -fill white -draw 'circle 128,128 128,16' \
    -fill "$colour" -draw 'circle 128,128 128,30' \
    "$@" \
    -resize "${size}x${size}" -strip "PNG32:$out"
}

check=(-stroke white -strokewidth 28 -fill none -draw 'stroke-linejoin round stroke-linecap round polyline 80,132 114,166 178,96')
bang=(-fill white -draw 'roundrectangle 114,64 142,146 12,12' -draw 'circle 128,182 128,198')
pause=(-fill white -draw 'roundrectangle 88,76 116,180 8,8' -draw 'roundrectangle 140,76 168,180 8,8')
cross=(-stroke white -strokewidth 26 -draw 'stroke-linecap round line 90,90 166,166' -draw 'stroke-linecap round line 166,90 90,166')

# Tray icons at 64 px: panels scale them down to their own size.
disc '#1f9d55' tray-direct.png 64 "${check[@]}"
disc '#d98a00' tray-some-not-direct.png 64 "${bang[@]}"
disc '#6b7486' tray-paused.png 64 "${pause[@]}"
disc '#c53030' tray-unreachable.png 64 "${cross[@]}"

# The app icon: the "direct" disc, large.
disc '#1f9d55' icon.png 512 "${check[@]}"
for size in 32 128; do
  "$IM" icon.png -resize "${size}x${size}" -strip "PNG32:${size}x${size}.png"
done

# macOS menu-bar templates: black shapes that the menu bar recolours.
python3 templates.py

# The bundlers' formats: .ico (Windows resource and installer), .icns (macOS app).
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd ../frontend && npx --no-install tauri icon ../icons/icon.png -o "$out" >/dev/null)
cp "$out/icon.ico" "$out/icon.icns" .
