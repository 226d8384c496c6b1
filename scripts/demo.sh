#!/usr/bin/env bash
# Bake the template's defaults and take them from nothing to a served prediction,
# the way a new user would: install, pipeline, tests, serve, predict.
# Needs only python3 and make; uv is used when present and installed otherwise.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-build/demo}" && cd "${1:-build/demo}" && pwd)
step() { printf '\n\033[1m== %s (%ss)\033[0m\n' "$1" "$SECONDS"; }

if ! command -v uv >/dev/null; then
    step "installing uv into $root/build/uv"
    python3 -m venv "$root/build/uv"
    "$root/build/uv/bin/python" -m pip install --quiet --disable-pip-version-check "uv>=0.8,<1"
    export PATH="$root/build/uv/bin:$PATH"
fi

step "bake the defaults into $out"
rm -rf "$out/penguin-classifier"
uv tool run --quiet --from cookiecutter==2.7.1 cookiecutter --no-input --output-dir "$out" "$root"
cd "$out/penguin-classifier"

step "make install"
# From uv's package cache alone when it holds every package (a second demo: about a
# second instead of the ~150 index requests a resolution makes); otherwise from PyPI.
UV_OFFLINE=1 make install 2>/dev/null || make install
step "make pipeline and make test, side by side"
# The tests train and serve their own models in temporary folders and need nothing
# the pipeline writes, so both run at once: the pipeline's stages, one process at a
# time, use the core time the test processes leave idle.
make pipeline >pipeline.log 2>&1 &
pipeline=$!
trap 'kill "$pipeline" 2>/dev/null || true' EXIT
tested=0
make test || tested=$?
piped=0
wait "$pipeline" || piped=$?
echo "-- make pipeline:"
cat pipeline.log
if [ "$piped" -ne 0 ] || [ "$tested" -ne 0 ]; then
    echo "failed: make pipeline exited $piped, make test exited $tested" >&2
    exit 1
fi

step "make serve, then one prediction"
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))')
API_KEYS=$key PORT=$port make serve >serve.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
API_KEY=$key PORT=$port .venv/bin/python - <<'PY'
import json, os, time, urllib.request

base = f"http://127.0.0.1:{os.environ['PORT']}"
for _ in range(300):
    try:
        urllib.request.urlopen(f"{base}/ping", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit("the server did not come up; see serve.log")
row = {"island": "Biscoe", "bill_length_mm": 45.1, "bill_depth_mm": 14.5,
       "flipper_length_mm": 210, "body_mass_g": 4400, "sex": "female"}
request = urllib.request.Request(
    f"{base}/predict", data=json.dumps({"instances": [row]}).encode(),
    headers={"Content-Type": "application/json", "X-API-Key": os.environ["API_KEY"]},
)
with urllib.request.urlopen(request, timeout=10) as response:
    body = json.load(response)
print("request :", json.dumps(row))
print("response:", json.dumps(body))
assert body["predictions"] == ["Gentoo"], body
PY
step "done: $out/penguin-classifier"
