#!/usr/bin/env bash
# Builds (or finds) the pinned Consul, Nomad and SeaweedFS binaries: the
# newest releases under open-source licences (see docs/local-cloud.md, "Binaries"), and our
# own wasm engine host (task-driver/engine, Rust, crates from crates.io).
# Named only, not built by default (the cloud does not run them): the OpenTofu
# CLI (`opentofu`, MPL-2.0) and our own OpenTofu provider (`lean-provider`,
# provider/, Go, cached by a digest of its sources), which examples/opentofu
# and its integration test use.
#
# Each program has a wrapper Go module in infra/binaries/<name>/ that requires
# the upstream module at a pinned version and repeats its replace/exclude lines.
# Built binaries are cached outside the repo, keyed by version:
#   ${LEAN_CLOUD_CACHE:-~/.cache/lean-cloud}/bin/<name>-<version>
# A binary of the pinned version already on PATH is used instead of building.
#
# The wasmtime CLI (crates.io, pinned like the engine's wasmtime crates) is not
# part of the cloud: bench:driver runs `wasmtime serve` as the peer its host is
# measured against, so it is built only when named.
#
# Usage: infra/build-binaries.sh [--print] [consul|nomad|seaweedfs|wasm-host|wasmtime-cli|opentofu|lean-provider ...]
#   --print   only print "<name>=<path>" lines for binaries that are ready
#   --tidy    re-resolve the wrapper module's go.mod/go.sum after a pin change
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${LEAN_CLOUD_CACHE:-$HOME/.cache/lean-cloud}
bindir=$cache/bin
logdir=$cache/build-logs
mkdir -p "$bindir" "$logdir"

# name | module version (as pinned in the wrapper go.mod) | version the binary reports | main package | build tags | cgo | extra -ldflags
# (OpenTofu's version package says "-dev" unless the build marks it a release.)
pins() {
  cat <<'EOF'
consul|v1.14.11|1.14.11|github.com/hashicorp/consul||0|
nomad|v1.6.3|1.6.3|github.com/hashicorp/nomad|ui release|1|
seaweedfs|v0.0.0-20261109003541-7506e5f91cd6|4.53|github.com/seaweedfs/seaweedfs/weed||0|
opentofu|v1.12.6|1.12.6|github.com/opentofu/opentofu/cmd/tofu||0|-X github.com/opentofu/opentofu/version.dev=no
EOF
}

mode=build
names=()
for arg in "$@"; do
  case "$arg" in
    --print) mode=print ;;
    --tidy) mode=tidy ;;
    consul|nomad|seaweedfs|wasm-host|wasmtime-cli|opentofu|lean-provider) names+=("$arg") ;;
    *) echo "build-binaries: unknown argument '$arg' (expected consul, nomad, seaweedfs, wasm-host, wasmtime-cli, opentofu, lean-provider, --print or --tidy)" >&2; exit 2 ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(consul nomad seaweedfs wasm-host)

log() { printf '[build-binaries] %s\n' "$*" >&2; }

# The Go toolchain that builds them (not Debian's golang, which is too old).
need_go() {
  local v
  if ! v=$(go env GOVERSION 2>/dev/null); then
    log "the Go toolchain (go 1.25 or newer) is needed to build the pinned binaries, and 'go' is not on PATH"
    log "install it from https://go.dev/dl/ and put its bin/ on PATH, then run this again"
    exit 1
  fi
  case "$v" in
    go1.2[5-9]*|go1.[3-9]*) ;;
    *) log "the Go toolchain is $v; building the pinned binaries needs go 1.25 or newer"; exit 1 ;;
  esac
}

# Prints the version an installed binary reports, or nothing.
reported_version() {
  local name=$1 path=$2
  case "$name" in
    consul) "$path" version 2>/dev/null | sed -n 's/^Consul v\([0-9.]*\).*/\1/p' | head -n1 ;;
    nomad) "$path" version 2>/dev/null | sed -n 's/^Nomad v\([0-9.]*\).*/\1/p' | head -n1 ;;
    seaweedfs) "$path" version 2>/dev/null | sed -n 's/^version [0-9]*GB \([0-9.]*\).*/\1/p' | head -n1 ;;
    opentofu) "$path" version 2>/dev/null | sed -n 's/^OpenTofu v\([0-9.]*\)$/\1/p' | head -n1 ;;
  esac
}

resolve_one() {
  local name=$1 modver=$2 want=$3 pkg=$4 tags=$5 cgo=$6 ldflags=$7
  local cached=$bindir/$name-$modver
  if [ -x "$cached" ]; then echo "$cached"; return 0; fi
  local onpath command=$name
  [ "$name" != opentofu ] || command=tofu
  if onpath=$(command -v "$command" 2>/dev/null) && [ "$(reported_version "$name" "$onpath")" = "$want" ]; then
    echo "$onpath"; return 0
  fi
  [ "$mode" = build ] || return 1
  need_go

  local wrapper=$here/binaries/$name
  local logfile=$logdir/$name-$modver.log
  local started=$SECONDS
  log "building $name $modver from the Go module proxy (log: $logfile); a cold build takes minutes"
  (
    cd "$wrapper"
    # Progress: go prints a line per module it downloads; show a heartbeat meanwhile.
    while sleep 30; do log "  $name: still building ($((SECONDS - started))s, $(wc -l <"$logfile") log lines)"; done &
    beat=$!
    trap 'kill $beat 2>/dev/null' EXIT
    # Niced: a cold build holds both cores for minutes on a machine with other work.
    CGO_ENABLED=$cgo GOFLAGS=-mod=readonly nice -n 10 go build -trimpath -tags "$tags" \
      -ldflags "-s -w $ldflags" -o "$cached.partial" "$pkg" >"$logfile" 2>&1
  ) || {
    log "FAILED to build $name $modver. Last lines of $logfile:"
    tail -n 20 "$logfile" >&2
    rm -f "$cached.partial"
    return 1
  }
  mv "$cached.partial" "$cached"
  log "built $name in $((SECONDS - started))s -> $cached ($(du -h "$cached" | cut -f1))"
  echo "$cached"
}

# The Rust toolchain that builds the engine host (wasmtime 48 needs rustc 1.95).
need_rust() {
  local v
  if ! v=$(rustc --version 2>/dev/null) || ! command -v cargo >/dev/null 2>&1; then
    log "the Rust toolchain (rustc and cargo 1.95 or newer) is needed to build the wasm engine host, and it is not on PATH"
    log "install it with rustup (https://rustup.rs), then run this again; Debian's rustc is too old"
    exit 1
  fi
  local minor
  minor=$(printf '%s' "$v" | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
  if [ -z "$minor" ] || [ "$minor" -lt 95 ]; then
    log "the Rust toolchain is '$v'; building the wasm engine host needs rustc 1.95 or newer"; exit 1
  fi
}

# Our engine host is built from its own sources and the crates its Cargo.lock
# pins (--locked), cached by a digest of those sources: a change rebuilds it.
resolve_wasm_host() {
  local src=$here/../task-driver/engine key cached
  key=$(cd "$src" && find Cargo.toml Cargo.lock src wit -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
  cached=$bindir/wasm-host-$key
  if [ -x "$cached" ]; then echo "$cached"; return 0; fi
  [ "$mode" = build ] || return 1
  need_rust
  local logfile=$logdir/wasm-host-$key.log target=$cache/cargo-target/engine
  local started=$SECONDS
  log "building the wasm engine host ($key) with cargo from crates.io (log: $logfile); a cold build takes about 10 minutes"
  (
    while sleep 30; do log "  wasm-host: still building ($((SECONDS - started))s, $(grep -c Compiling "$logfile") crates compiled)"; done &
    beat=$!
    trap 'kill $beat 2>/dev/null' EXIT
    CARGO_TARGET_DIR=$target cargo build --release --locked --manifest-path "$src/Cargo.toml" >"$logfile" 2>&1
  ) || {
    log "FAILED to build the wasm engine host. Last lines of $logfile:"
    tail -n 20 "$logfile" >&2
    return 1
  }
  cp "$target/release/lean-wasm-host" "$cached.partial"
  mv "$cached.partial" "$cached"
  log "built the wasm engine host in $((SECONDS - started))s -> $cached ($(du -h "$cached" | cut -f1))"
  echo "$cached"
}

# Our OpenTofu provider (provider/, Go, modules from the Go module proxy as its
# go.sum pins them), cached by a digest of its sources like the engine host.
resolve_lean_provider() {
  local src=$here/../provider key cached
  key=$(cd "$src" && find go.mod go.sum main.go internal -type f -name 'go.*' -o -type f -name '*.go' ! -name '*_test.go' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
  cached=$bindir/lean-provider-$key
  if [ -x "$cached" ]; then echo "$cached"; return 0; fi
  [ "$mode" = build ] || return 1
  need_go
  local logfile=$logdir/lean-provider-$key.log started=$SECONDS
  log "building the lean OpenTofu provider ($key) (log: $logfile)"
  (
    cd "$src"
    CGO_ENABLED=0 GOFLAGS=-mod=readonly nice -n 10 go build -trimpath \
      -ldflags "-s -w -X main.version=0.1.0+$key" -o "$cached.partial" . >"$logfile" 2>&1
  ) || {
    log "FAILED to build the lean provider. Last lines of $logfile:"
    tail -n 20 "$logfile" >&2
    rm -f "$cached.partial"
    return 1
  }
  mv "$cached.partial" "$cached"
  log "built the lean provider in $((SECONDS - started))s -> $cached ($(du -h "$cached" | cut -f1))"
  echo "$cached"
}

# The wasmtime CLI, same wasmtime release as the engine host's crates, with only
# what the bench uses: `serve` (which runs through the `run` command's options
# and loads a p3 service when it can, hence component-model-async), `compile`
# and cranelift for the precompiled .cwasm, the pooling allocator
# (-O pooling-allocator) and parallel compilation; and clap's default features,
# without which --help is refused and a wrong argument goes unnamed. Cached by
# version and features. Niced: it is a bench tool.
WASMTIME_CLI_VERSION=48.0.8
WASMTIME_CLI_FEATURES=run,serve,compile,cranelift,pooling-allocator,parallel-compilation,component-model-async,clap/default
resolve_wasmtime_cli() {
  local cached
  cached=$bindir/wasmtime-cli-$WASMTIME_CLI_VERSION-$(printf '%s' "$WASMTIME_CLI_FEATURES" | sha256sum | cut -c1-8)
  if [ -x "$cached" ]; then echo "$cached"; return 0; fi
  [ "$mode" = build ] || return 1
  need_rust
  local logfile=$logdir/${cached##*/}.log root=$cache/cargo-install/wasmtime-cli-$WASMTIME_CLI_VERSION
  local started=$SECONDS
  log "building the wasmtime CLI $WASMTIME_CLI_VERSION with cargo from crates.io (log: $logfile); a cold build takes about 12 minutes on 2 cores"
  (
    while sleep 30; do log "  wasmtime-cli: still building ($((SECONDS - started))s, $(grep -c Compiling "$logfile") crates compiled)"; done &
    beat=$!
    trap 'kill $beat 2>/dev/null' EXIT
    CARGO_TARGET_DIR=$cache/cargo-target/wasmtime-cli nice -n 10 cargo install wasmtime-cli --version "=$WASMTIME_CLI_VERSION" --locked \
      --no-default-features --features "$WASMTIME_CLI_FEATURES" --root "$root" >"$logfile" 2>&1
  ) || {
    log "FAILED to build the wasmtime CLI. Last lines of $logfile:"
    tail -n 20 "$logfile" >&2
    return 1
  }
  cp "$root/bin/wasmtime" "$cached.partial"
  mv "$cached.partial" "$cached"
  log "built the wasmtime CLI in $((SECONDS - started))s -> $cached ($(du -h "$cached" | cut -f1))"
  echo "$cached"
}

status=0
if [[ " ${names[*]} " == *" wasmtime-cli "* ]] && [ "$mode" != tidy ]; then
  if path=$(resolve_wasmtime_cli); then echo "wasmtime-cli=$path"; else [ "$mode" = print ] || status=1; fi
fi
if [[ " ${names[*]} " == *" lean-provider "* ]] && [ "$mode" != tidy ]; then
  if path=$(resolve_lean_provider); then echo "lean-provider=$path"; else [ "$mode" = print ] || status=1; fi
fi
if [[ " ${names[*]} " == *" wasm-host "* ]] && [ "$mode" != tidy ]; then
  if path=$(resolve_wasm_host); then echo "wasm-host=$path"; else [ "$mode" = print ] || status=1; fi
fi
while IFS='|' read -r name modver want pkg tags cgo ldflags; do
  [[ " ${names[*]} " == *" $name "* ]] || continue
  if [ "$mode" = tidy ]; then
    need_go
    # `go get -tool` resolves only what the build needs, at upstream's own
    # versions (`go mod tidy` would also chase tests of dependencies and bump them).
    (cd "$here/binaries/$name" && GOFLAGS=-mod=mod go get -tool "$pkg@$modver")
    continue
  fi
  if path=$(resolve_one "$name" "$modver" "$want" "$pkg" "$tags" "$cgo" "$ldflags"); then
    echo "$name=$path"
  else
    [ "$mode" = print ] || status=1
  fi
done < <(pins)
exit $status
