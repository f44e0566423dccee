# Shared helpers for scripts/run, scripts/test and scripts/bench. Sourced, not executed.

# Prints a section header.
section() {
  printf '\n==== %s ====\n' "$*"
}

# apt_ensure PKG...: installs, with apt-get, those of PKG that dpkg does not report installed.
# Does nothing (and needs no network) when everything is already there.
apt_ensure() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing with apt-get: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be stale or absent on a fresh machine: refresh once, then install.
  if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" </dev/null; then
    "${sudo[@]}" apt-get update </dev/null
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
  fi
}

# cargo lives in ~/.cargo/bin on a rustup machine; a non-login shell may not have it on PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  PATH="$HOME/.cargo/bin:$PATH"
fi

# Debian packages the build needs: a C toolchain, and zk-storage-rocksdb's system RocksDB
# (librocksdb-dev brings its codecs' -dev packages; librocksdb-sys runs bindgen, which needs
# libclang). See docs/storage.md for the choice of the system library over a bundled build.
BUILD_PACKAGES=(gcc libc6-dev pkg-config librocksdb-dev libclang-dev)
