#!/bin/sh
# Makes the Docker build context for docker/Dockerfile in $2 (default docker/.context)
# from the ferrokeeper binary $1: the binary, stripped, with every shared library `ldd`
# names (copied from this host, same paths), a static busybox (Debian's busybox-static) as
# /bin/sh and the tools the scripts use, the entrypoint, zkServer.sh, /etc/passwd with the
# zookeeper user (1000:1000), and /conf /data /datalog /logs owned by it.
#
#   docker/build-context.sh target/release/ferrokeeper [CONTEXT_DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: build-context.sh FERROKEEPER_BINARY [CONTEXT_DIR]}
ctx=${2:-$here/.context}
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "build-context: busybox not found (apt-get install busybox-static)" >&2; exit 2; }
if ldd "$busybox" >/dev/null 2>&1; then
    echo "build-context: $busybox is not static (apt-get install busybox-static)" >&2
    exit 2
fi

rm -rf "$ctx"
mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/ferrokeeper/bin" "$ctx/rootfs/etc" "$ctx/rootfs/tmp" \
    "$ctx/owned/conf" "$ctx/owned/data" "$ctx/owned/datalog" "$ctx/owned/logs" \
    "$ctx/owned/home/zookeeper"
chmod 1777 "$ctx/rootfs/tmp"

strip -o "$ctx/rootfs/ferrokeeper/bin/ferrokeeper" "$bin" 2>/dev/null || cp "$bin" "$ctx/rootfs/ferrokeeper/bin/ferrokeeper"
cp "$here/../scripts/zkServer.sh" "$ctx/rootfs/ferrokeeper/bin/zkServer.sh"
cp "$here/docker-entrypoint.sh" "$ctx/rootfs/docker-entrypoint.sh"
chmod 755 "$ctx/rootfs/ferrokeeper/bin/"* "$ctx/rootfs/docker-entrypoint.sh"

# Shared libraries at the paths the loader looks in.
ldd "$bin" | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]*ld-linux/ { print $1 }' | sort -u |
    while read -r lib; do
        mkdir -p "$ctx/rootfs$(dirname "$lib")"
        cp -L "$lib" "$ctx/rootfs$lib"
    done

cp "$busybox" "$ctx/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [ -e "$ctx/rootfs/bin/$applet" ] || ln -s busybox "$ctx/rootfs/bin/$applet"
done

printf 'root:x:0:0:root:/root:/bin/sh\nzookeeper:x:1000:1000:zookeeper:/home/zookeeper:/bin/sh\n' \
    >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nzookeeper:x:1000:\n' >"$ctx/rootfs/etc/group"
printf 'hosts: files dns\n' >"$ctx/rootfs/etc/nsswitch.conf"
cp "$here/Dockerfile" "$ctx/Dockerfile"
echo "$ctx"
