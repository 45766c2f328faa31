#!/usr/bin/env bash
# Packaging check for the two Lambda functions: builds the arm64 `bootstrap` of the
# dispatcher and the worker exactly as `sam build` does (cargo-lambda, zig as the linker),
# checks that both are ELF aarch64 executables, and prints their sizes and the build time.
#
# Installs what it needs only when missing: cargo-lambda and ziglang into the tools venv
# (${DYNSYNC_TOOLS:-~/.cache/dynsync-tools}, shared with infra/scripts/test.sh) and the
# aarch64-unknown-linux-gnu rustup target. Slow (a release build of the whole AWS SDK set
# for another architecture: minutes), so it is not part of infra/scripts/test.sh.
#
# Usage: infra/scripts/lambda-build.sh        (NICE=10 to build at a lower priority)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

TOOLS="${DYNSYNC_TOOLS:-$HOME/.cache/dynsync-tools}"
CARGO_LAMBDA_VERSION=1.9.2
ZIGLANG_VERSION=0.17.1
TARGET=aarch64-unknown-linux-gnu
# The binary names template.yaml's BuildProperties.Binary uses.
BINARIES=(dispatcher worker)

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- tools (installed once, reused afterwards) -------------------------------------------
missing=()
[[ -x "$TOOLS/bin/cargo-lambda" ]] || missing+=("cargo-lambda==$CARGO_LAMBDA_VERSION")
"$TOOLS/bin/python" -c 'import ziglang' 2>/dev/null || missing+=("ziglang==$ZIGLANG_VERSION")
if ((${#missing[@]})); then
  step "installing ${missing[*]} into $TOOLS"
  [[ -x "$TOOLS/bin/pip" ]] || python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${missing[@]}"
fi
# cargo finds the `cargo-lambda` subcommand on PATH; cargo-lambda finds zig via the
# ziglang module of the venv's python.
export PATH="$TOOLS/bin:$PATH"

if ! rustup target list --installed | grep -qx "$TARGET"; then
  step "rustup target add $TARGET"
  rustup target add "$TARGET"
fi

# --- build -------------------------------------------------------------------------------
bin_args=()
for bin in "${BINARIES[@]}"; do bin_args+=(--bin "$bin"); done
step "cargo lambda build --release --arm64 ${bin_args[*]}"
started=$(date +%s)
nice -n "${NICE:-0}" cargo lambda build --release --arm64 "${bin_args[@]}"
elapsed=$(($(date +%s) - started))

# --- checks ------------------------------------------------------------------------------
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
step "packages (built in ${elapsed} s)"
for bin in "${BINARIES[@]}"; do
  bootstrap="$TARGET_DIR/lambda/$bin/bootstrap"
  [[ -f "$bootstrap" ]] || die "$bootstrap was not built"
  # ELF header: magic, EI_CLASS 2 (64-bit), e_machine 0xB7 (183, AArch64) at offset 18.
  python3 - "$bootstrap" <<'PY' || die "$bootstrap is not an ELF 64-bit aarch64 executable"
import struct, sys
with open(sys.argv[1], "rb") as f:
    head = f.read(20)
ok = len(head) == 20 and head[:4] == b"\x7fELF" and head[4] == 2 \
    and struct.unpack("<H", head[18:20])[0] == 183
sys.exit(0 if ok else 1)
PY
  size=$(stat -c %s "$bootstrap")
  printf '%-10s %s  %d bytes (%.1f MiB), ELF 64-bit aarch64\n' \
    "$bin" "$bootstrap" "$size" "$(python3 -c "print($size / 1048576)")"
done
