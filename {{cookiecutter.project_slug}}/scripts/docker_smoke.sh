#!/usr/bin/env bash
# Run the serving image on the trained model in models/ and smoke-test it:
# /ping, the model card, one prediction through /invocations. Removes the container.
#   scripts/docker_smoke.sh [image] [port]
set -euo pipefail

image=${1:-{{ cookiecutter.package_name }}-serve}
port=${2:-8080}
API_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
export API_KEY

container=$(docker run --detach --rm \
    --publish "127.0.0.1:${port}:8080" \
    --volume "$PWD/models:/opt/ml/model:ro" \
    --env "API_KEYS=${API_KEY}" \
    "$image" serve)
trap 'docker logs "$container" 2>&1 | tail -n 20; docker stop "$container" >/dev/null' EXIT

python -m {{ cookiecutter.package_name }}.serve.smoke --url "http://127.0.0.1:${port}" --wait 90
