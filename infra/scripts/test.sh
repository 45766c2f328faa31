#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a warm one.
#
# Installs what the suite needs into a venv under ${DYNSYNC_TOOLS:-~/.cache/dynsync-tools}
# only when missing (moto server; cfn-lint and the SAM CLI when template.yaml exists),
# starts moto on a free loopback port (stopped on exit), points the AWS SDK at it, then
# runs: cargo fmt --check, clippy with -D warnings, cargo nextest, and doctests if any.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

TOOLS="${DYNSYNC_TOOLS:-$HOME/.cache/dynsync-tools}"
MOTO_VERSION=5.2.5
CFN_LINT_VERSION=1.58.0
SAM_VERSION=1.170.0

step() { printf '\n==> %s\n' "$*" >&2; }

# --- tools (installed once, reused afterwards) -------------------------------------------
missing=()
[[ -x "$TOOLS/bin/moto_server" ]] || missing+=("moto[server]==$MOTO_VERSION")
if [[ -f template.yaml ]]; then
  [[ -x "$TOOLS/bin/cfn-lint" ]] || missing+=("cfn-lint==$CFN_LINT_VERSION")
  [[ -x "$TOOLS/bin/sam" ]] || missing+=("aws-sam-cli==$SAM_VERSION")
fi
if ((${#missing[@]})); then
  step "installing ${missing[*]} into $TOOLS"
  [[ -x "$TOOLS/bin/pip" ]] || python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${missing[@]}"
fi
if ! command -v cargo-nextest >/dev/null 2>&1; then
  step "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# --- moto server on a free loopback port ---------------------------------------------------
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
MOTO_LOG="$(mktemp -t dynsync-moto.XXXXXX)"
# Stock moto is not thread-safe where our tests race (a failed DynamoDB transaction can undo
# a concurrent commit; two SQS receivers can get one message): this wrapper runs the same
# moto server with its request handling serialised.
"$TOOLS/bin/python" shared/aws/tests/moto/serialised_moto_server.py -H 127.0.0.1 -p "$PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
cleanup() {
  kill "$MOTO_PID" 2>/dev/null || true
  wait "$MOTO_PID" 2>/dev/null || true
  rm -f "$MOTO_LOG"
}
trap cleanup EXIT

ready=0
for _ in $(seq 1 200); do
  if python3 -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/', timeout=1)" 2>/dev/null; then
    ready=1
    break
  fi
  if ! kill -0 "$MOTO_PID" 2>/dev/null; then break; fi
  sleep 0.1
done
if ((!ready)); then
  echo "moto server did not start on 127.0.0.1:$PORT:" >&2
  cat "$MOTO_LOG" >&2
  exit 1
fi
step "moto server on 127.0.0.1:$PORT"

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0

# --- template checks (offline) -------------------------------------------------------------
if [[ -f template.yaml ]]; then
  step "cfn-lint template.yaml"
  "$TOOLS/bin/cfn-lint" template.yaml
  step "sam validate --lint"
  "$TOOLS/bin/sam" validate --lint --template-file template.yaml
fi

# --- Rust ------------------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo nextest"
cargo nextest run --workspace --locked
if grep -rqE '^\s*//[/!]\s*```' --include='*.rs' cli functions shared infra tests 2>/dev/null; then
  step "doctests"
  cargo test --doc --workspace --locked
fi
step "all checks passed"
