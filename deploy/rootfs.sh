#!/bin/sh
# rootfs.sh OUTDIR assembles the build context of the callhook image in
# OUTDIR: OUTDIR/Dockerfile and OUTDIR/rootfs/, a root filesystem with the
# static callhook binary and a self-contained lame (the binary, every shared
# library it loads and the dynamic loader, at the paths it was linked with).
# Needs go, lame and ldd on the build machine; `make image-deps` installs lame.
set -eu

out=${1:?usage: rootfs.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
root="$out/rootfs"

rm -rf "$root"
mkdir -p "$root/usr/local/bin" "$root/usr/bin" "$root/etc/callhook" "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"

# The engine: static, no libc.
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$root/usr/local/bin/callhook" ./cmd/callhook)

# lame with its shared libraries and loader, copied to the same paths so
# the binary runs unchanged on an otherwise empty filesystem.
lame=$(command -v lame) || { echo "rootfs.sh: lame not found (install Debian's lame)" >&2; exit 1; }
cp -L "$lame" "$root/usr/bin/lame"
ldd "$lame" | awk '/=> \//{print $3} /^[[:space:]]*\//{print $1}' | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done

# Time zones and CA certificates when the build machine has them.
if [ -d /usr/share/zoneinfo ]; then
	mkdir -p "$root/usr/share"
	cp -RL /usr/share/zoneinfo "$root/usr/share/zoneinfo"
fi
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
fi

# The engine's durable outbox: /var/lib/callhook (owned by the engine's
# user in the Dockerfile); the default [delivery] dir, callhook-data beside
# the config file, points there too.
mkdir -p "$root/var/lib/callhook"
ln -s /var/lib/callhook "$root/etc/callhook/callhook-data"

printf 'root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

cp "$here/Dockerfile" "$out/Dockerfile"
