#!/usr/bin/env bash
# Checks a built punchwire .deb: the app, the service binary, the systemd unit, the
# sysusers file, the autostart entry and a postinst that creates the punchwire group.
# Usage: deb_contents.sh PATH/TO/Punchwire_*.deb
set -euo pipefail
deb=$1
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$root/DEBIAN"

fail=0
need() { [ -e "$root/$1" ] || { echo "missing: /$1"; fail=1; }; }
need usr/bin/punchwire-tray
need usr/bin/punchwire
need usr/lib/systemd/system/punchwire.service
need usr/lib/sysusers.d/punchwire.conf
need usr/share/doc/punchwire-tray/registry-relay.conf
need etc/xdg/autostart/punchwire-tray.desktop
need usr/share/applications/Punchwire.desktop
need usr/share/icons/hicolor/128x128/apps/punchwire-tray.png
need usr/share/punchwire/first-run.toml

[ -x "$root/usr/bin/punchwire" ] && "$root/usr/bin/punchwire" --help >/dev/null || { echo "punchwire --help fails"; fail=1; }
# The packaged binary is built without the demo, so it has no NAT lab to run as root.
# `demo --help` so that a binary with the demo prints its help instead of starting it.
no_demo=$("$root/usr/bin/punchwire" demo --help 2>&1 || true)
grep -q 'this build of punchwire has no demo' <<<"$no_demo" \
  || { echo "the packaged punchwire has the demo (built with --features demo?): $no_demo"; fail=1; }
grep -qx 'Exec=punchwire-tray --hidden' "$root/etc/xdg/autostart/punchwire-tray.desktop" || { echo "autostart entry does not start the tray hidden"; fail=1; }
grep -q 'ExecStart=/usr/bin/punchwire service' "$root/usr/lib/systemd/system/punchwire.service" || { echo "unit does not run /usr/bin/punchwire"; fail=1; }
grep -qx 'g punchwire - -' "$root/usr/lib/sysusers.d/punchwire.conf" || { echo "sysusers file does not declare the group"; fail=1; }
grep -q 'systemd-sysusers punchwire.conf' "$root/DEBIAN/postinst" && grep -q 'groupadd --system punchwire' "$root/DEBIAN/postinst" \
  || { echo "postinst does not create the punchwire group"; fail=1; }
sh -n "$root/DEBIAN/postinst" || { echo "postinst is not valid sh"; fail=1; }

# Run the postinst for real, as root, in a private mount namespace over copies of /etc
# and /usr/lib/sysusers.d: the group appears there and the host is left as it was.
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
  root="$root" unshare --mount --propagation private sh -c '
    set -e
    mkdir "$root/etc-copy" "$root/sysusers-copy"
    cp -a /etc/. "$root/etc-copy/"
    cp -a /usr/lib/sysusers.d/. "$root/sysusers-copy/" 2>/dev/null || true
    cp "$root/usr/lib/sysusers.d/punchwire.conf" "$root/sysusers-copy/"
    mount --bind "$root/etc-copy" /etc
    mount --bind "$root/sysusers-copy" /usr/lib/sysusers.d
    rm -rf /etc/punchwire
    # The files of the package are not installed here: the script reads them where dpkg-deb put them.
    sed "s#/usr/share/punchwire/#$root/usr/share/punchwire/#" "$root/DEBIAN/postinst" > "$root/postinst"
    sh "$root/postinst" configure >/dev/null
    getent group punchwire >/dev/null
    # The first-run configuration; that the service takes it is a test in config.rs.
    grep -q "names no WireGuard interface" /etc/punchwire/config.toml
  ' || { echo "postinst did not create the punchwire group and the first-run configuration"; fail=1; }
else
  echo "(not root: the postinst is checked by reading only)"
fi

if [ $fail -ne 0 ]; then
  echo "deb contents: FAILED ($deb)"
  exit 1
fi
echo "deb contents: ok ($deb)"
