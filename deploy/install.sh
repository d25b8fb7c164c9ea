#!/bin/sh
# Installs coraft and one gateway's bundle (from `coraft provision`) in the standard places:
#   PREFIX (default /opt/coraft)                 the package and its production dependencies
#   /etc/coraft                                  agent.json, the gateway's link keys (keystore.json), node
#                                                secret, endpoint keys and the admin public key
#   /var/lib/coraft                              the node's state (mode 0700)
#   /etc/systemd/system/coraft.service           the unit, and coraft.service.d/10-gateway.conf
#   /usr/lib/sysusers.d/coraft.conf              the service user
# /etc/coraft is root:coraft 0750 and its files root:coraft 0640: the agent (user coraft) reads
# them through its group and cannot change them; the agent refuses a key file that others may
# read. /var/lib/coraft is coraft:coraft 0700. With --destdir DIR everything goes under DIR and
# nothing is enabled or started (packaging and tests); ownership is set only when run as root
# on a host that has the coraft user, else left to the packager (with a warning).
#
# After `npm install` it removes the native builds this gateway cannot load (other Node.js ABIs,
# the other C library: deploy/prune-prebuilds.ts), unless --keep-prebuilds.
#
# usage: install.sh --bundle DIR (--package TARBALL | --no-package) [--prefix DIR]
#                   [--destdir DIR] [--keep-prebuilds] [--start]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bundle=""
package=""
skip_package=no
prefix=/opt/coraft
destdir=""
start=no
keep_prebuilds=no
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=$2; shift 2 ;;
    --package) package=$2; shift 2 ;;
    --no-package) skip_package=yes; shift ;;
    --prefix) prefix=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --start) start=yes; shift ;;
    --keep-prebuilds) keep_prebuilds=yes; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 64 ;;
  esac
done
[ -n "$bundle" ] || { echo "install.sh: --bundle DIR is required" >&2; exit 64; }
if [ "$skip_package" = no ] && [ -z "$package" ]; then
  echo "install.sh: --package TARBALL (from npm pack) or --no-package is required" >&2; exit 64
fi
[ -f "$bundle/agent.json" ] || { echo "install.sh: $bundle holds no agent.json" >&2; exit 66; }
id=$(sed -n 's/^ *"nodeId": *"\([^"]*\)".*/\1/p' "$bundle/agent.json" | head -n 1)
[ -n "$id" ] || { echo "install.sh: no nodeId in $bundle/agent.json" >&2; exit 65; }
umask 077

# 1. The package, with production dependencies only.
if [ "$skip_package" = no ]; then
  mkdir -p "$destdir$prefix"
  npm install --omit=dev --no-audit --no-fund --no-save --prefix "$destdir$prefix" "$package"
  # Keep only the native build the node running here loads (deploy/README.md, "Install size").
  if [ "$keep_prebuilds" = no ]; then
    node "$destdir$prefix/node_modules/coraft/dist/deploy/prune-prebuilds.js" "$destdir$prefix/node_modules"
  fi
fi

# 2. The service user (real installs only).
install -d -m 0755 "$destdir/usr/lib/sysusers.d"
install -m 0644 "$here/coraft.sysusers.conf" "$destdir/usr/lib/sysusers.d/coraft.conf"
if [ -z "$destdir" ]; then
  if command -v systemd-sysusers >/dev/null 2>&1; then systemd-sysusers coraft.conf
  elif ! id coraft >/dev/null 2>&1; then useradd --system --home-dir /var/lib/coraft --shell /usr/sbin/nologin coraft
  fi
fi

# 3. Configuration and keys: /etc/coraft root:coraft 0750, its files root:coraft 0640 (modes set
#    by install(1), whatever the umask); the state folder coraft:coraft 0700. The files: the
#    configuration, the gateway's link keys, node secret, endpoint keys and the admin public key
#    (whose integrity matters: the agent checks it like a secret). A bundle from before link keys
#    (<id>.key, admin.key) is refused: re-provision it.
[ -f "$bundle/node.secret" ] || { echo "install.sh: $bundle holds no node.secret: a bundle from before link keys? re-provision it (deploy/README.md)" >&2; exit 65; }
files="agent.json keystore.json node.secret endpoint-kv.key endpoint-admin.key admin.pub"
install -d -m 0750 "$destdir/etc/coraft"
for name in $files; do
  install -m 0640 "$bundle/$name" "$destdir/etc/coraft/$name"
done
install -d -m 0700 "$destdir/var/lib/coraft"
set_owners() {
  chown root:coraft "$destdir/etc/coraft" || return 1
  for name in $files; do
    chown root:coraft "$destdir/etc/coraft/$name" || return 1
  done
  chown coraft:coraft "$destdir/var/lib/coraft"
}
if [ -z "$destdir" ]; then
  set_owners || { echo "install.sh: cannot set the owners of /etc/coraft and /var/lib/coraft" >&2; exit 73; }
elif [ "$(id -u)" = 0 ] && id coraft >/dev/null 2>&1; then
  set_owners || { echo "install.sh: cannot set the owners under $destdir" >&2; exit 73; }
else
  echo "install.sh: owners left as they are under $destdir (not root, or no coraft user here); when packaging, make /etc/coraft and its files root:coraft and /var/lib/coraft coraft:coraft" >&2
fi

# 4. The unit and the gateway's drop-in.
install -d -m 0755 "$destdir/etc/systemd/system/coraft.service.d"
install -m 0644 "$here/../systemd/coraft.service" "$destdir/etc/systemd/system/coraft.service"
install -m 0644 "$bundle/coraft.service.d/10-gateway.conf" "$destdir/etc/systemd/system/coraft.service.d/10-gateway.conf"

if [ -z "$destdir" ]; then
  systemctl daemon-reload
  if [ "$start" = yes ]; then systemctl enable --now coraft.service; else systemctl enable coraft.service; fi
fi
echo "installed coraft gateway $id under ${destdir:-/}"
