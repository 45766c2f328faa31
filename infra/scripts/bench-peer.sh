#!/usr/bin/env bash
# The peer benchmark (issue 13): the public Airbyte Dataverse connector and `dynsync run`
# against the same out-of-process Dataverse emulator in one invocation, at page size 5,000
# and 500, with CPU seconds, wall time and peak RSS of both client processes and the ratios
# against the targets. Not part of infra/scripts/test.sh.
#
#   infra/scripts/bench-peer.sh            # 20,000 contacts, 1 round
#   CONTACTS=50000 ROUNDS=3 infra/scripts/bench-peer.sh
#   CONCURRENCY=4 PAGE_SIZES="5000 500"    # the defaults
#
# Installs airbyte-source-microsoft-dataverse==1.0.2 into its own venv under the tools
# folder (${DYNSYNC_TOOLS:-~/.cache/dynsync-tools}/peer-airbyte-dataverse) when missing: it
# pins pydantic 1 and an old requests-cache, which would break the SAM CLI and moto in the
# tools venv itself. Builds `dynsync` and the emulator binaries in release mode.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

TOOLS="${DYNSYNC_TOOLS:-$HOME/.cache/dynsync-tools}"
PEER_VENV="$TOOLS/peer-airbyte-dataverse"
PEER_PACKAGE="airbyte-source-microsoft-dataverse==1.0.2"

step() { printf '\n==> %s\n' "$*" >&2; }

if [[ ! -x "$PEER_VENV/bin/source-microsoft-dataverse" ]]; then
  step "installing $PEER_PACKAGE into $PEER_VENV"
  [[ -x "$PEER_VENV/bin/pip" ]] || python3 -m venv "$PEER_VENV"
  "$PEER_VENV/bin/pip" install --quiet --disable-pip-version-check "$PEER_PACKAGE"
fi

if [[ ! -x /usr/bin/time ]]; then
  step "installing GNU time (each client's own peak RSS)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
fi

step "building dynsync and the emulators (release)"
cargo build --release --locked -p dynsync -p dynsync-emulators --bins

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
exec python3 infra/scripts/bench-peer.py \
  --connector "$PEER_VENV/bin/source-microsoft-dataverse" \
  --dynsync "$TARGET_DIR/release/dynsync" \
  --dataverse-emulator "$TARGET_DIR/release/dataverse-emulator" \
  --insider-emulator "$TARGET_DIR/release/insider-emulator" \
  --contacts "${CONTACTS:-20000}" \
  --rounds "${ROUNDS:-1}" \
  --concurrency "${CONCURRENCY:-4}" \
  --page-sizes ${PAGE_SIZES:-5000 500}
