#!/usr/bin/env bash
# Figures for the serving image of a default bake: base size, image size, what
# the image adds to its base, the largest packages in it, and build times cold
# (no layer cache), warm (nothing changed) and after an edit of the package.
#
# Usage: benchmarks/image_size.sh [BASE_IMAGE]
#   BASE_IMAGE: default $TEMPLATE_BASE_IMAGE, else local/python:3.11-bookworm
#   (.ci/docker.sh builds it). PYTHON: an interpreter with cookiecutter.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-${TEMPLATE_BASE_IMAGE:-local/python:3.11-bookworm}}
python=${PYTHON:-python3}
tag=image-size-benchmark:$$
# Debian's client has BuildKit built in; a newer client without buildx has not.
if [ -x /usr/bin/docker ]; then
    docker=/usr/bin/docker
    export DOCKER_BUILDKIT=1
else
    docker=docker
fi

work=$(mktemp -d)
label=image-size-benchmark=$$
cleanup() {
    "$docker" image rm -f "$tag" >/dev/null 2>&1 || true
    # Earlier builds lost the tag to later ones: remove those too.
    "$docker" image prune -f --filter "label=$label" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"$python" -m cookiecutter --no-input --output-dir "$work" "$root" >/dev/null
dockerfile=$(find "$work" -path '*/serve/Dockerfile')
package_dir=${dockerfile%/serve/Dockerfile}
project=$(dirname "$package_dir")

# Seconds one build takes; extra arguments go to `docker build`.
build() {
    local start end
    start=$(date +%s%N)
    "$docker" build --quiet "$@" --label "$label" --build-arg "BASE_IMAGE=$base" \
        -f "$dockerfile" -t "$tag" "$project" >/dev/null
    end=$(date +%s%N)
    awk -v ns=$((end - start)) 'BEGIN { printf "%.1f", ns / 1e9 }'
}
megabytes() {
    "$docker" image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.0f", $1 / 1e6 }'
}

load=$(cut -d ' ' -f 1-3 /proc/loadavg)
cold=$(build --no-cache)
warm=$(build)
echo "# edited $(date +%s%N)" >>"$package_dir/__init__.py"  # unique: no cache hit
edited=$(build)

base_mb=$(megabytes "$base")
image_mb=$(megabytes "$tag")
largest=$("$docker" run --rm --entrypoint sh "$tag" -c \
    'du -sm /opt/venv/lib/python3*/site-packages/* | sort -rn | head -n 8' |
    awk '{ n = split($2, path, "/"); printf "%s%s %s MB", sep, path[n], $1; sep = ", " }')

cat <<EOF
Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), \
Docker $("$docker" version --format '{{.Server.Version}}'), load average at start $load, \
$(date -u +%Y-%m-%d)

| Figure | Value |
|---|---|
| Base image ($base) | $base_mb MB |
| Serving image | $image_mb MB |
| Added to the base | $((image_mb - base_mb)) MB |
| Build, cold (no layer cache) | $cold s |
| Build, warm (nothing changed) | $warm s |
| Build after editing the package | $edited s |
| Largest packages in the image | $largest |
EOF
