#!/usr/bin/env bash
# The scale benchmark (issue 13): `dynsync run` alone against the out-of-process Dataverse
# and Insider emulators at each record count, page size 500 (and PAGE_SIZES), printing
# records/s and peak RSS (the dynsync process's own ru_maxrss, through GNU time), so memory can be
# compared as the records grow. Not part of infra/scripts/test.sh.
#
#   infra/scripts/bench-scale.sh                         # 100,000 then 1,000,000 records
#   RECORDS="100000 1000000" PAGE_SIZES="500 5000" CONCURRENCY=4 infra/scripts/bench-scale.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [[ ! -x /usr/bin/time ]]; then
  printf '\n==> %s\n' "installing GNU time (the dynsync process's own peak RSS)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
fi

printf '\n==> %s\n' "building dynsync and the emulators (release)" >&2
cargo build --release --locked -p dynsync -p dynsync-emulators --bins

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
for records in ${RECORDS:-100000 1000000}; do
  python3 infra/scripts/bench-peer.py --dynsync-only \
    --connector none \
    --dynsync "$TARGET_DIR/release/dynsync" \
    --dataverse-emulator "$TARGET_DIR/release/dataverse-emulator" \
    --insider-emulator "$TARGET_DIR/release/insider-emulator" \
    --contacts "$records" \
    --rounds "${ROUNDS:-1}" \
    --concurrency "${CONCURRENCY:-4}" \
    --page-sizes ${PAGE_SIZES:-500}
done
