#!/usr/bin/env bash
# Make a Docker engine and a local Python base image available to the tests.
#
# CI machines reach Debian's packages and PyPI but not Docker Hub, so the base
# image (python:<ver>-slim-bookworm in real use) is built here from Debian
# packages: debootstrap + python3 + venv, imported as $TEMPLATE_BASE_IMAGE.
# Steps, each skipped when already done: install docker.io, debootstrap and Compose,
# start dockerd when no daemon answers, build the base image when it is missing.
# Quiet on success; on failure one line on stderr and exit status 1.
set -euo pipefail

image=${TEMPLATE_BASE_IMAGE:-local/python:3.11-bookworm}
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log=/tmp/template-docker-setup.log
daemon_log=/tmp/template-dockerd.log
daemon_wait=60
# Debian's client: its built-in BuildKit works without the buildx plugin.
docker=/usr/bin/docker

fail() {
    echo "docker.sh: $1" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || fail "needs root (installs packages and starts dockerd)"
# One run at a time: a second caller waits, then finds everything done.
exec 9>/tmp/template-docker.lock
flock -w 900 9 || fail "another docker.sh run holds /tmp/template-docker.lock"
: >"$log"

# --- packages ---------------------------------------------------------------
packages=()
if [ ! -x /usr/sbin/dockerd ] || [ ! -x "$docker" ]; then
    packages+=(docker.io)
fi
command -v debootstrap >/dev/null || packages+=(debootstrap debian-archive-keyring)
# Compose for tests/test_compose.py: the plugin if the client has one, else Debian's.
if ! command -v docker-compose >/dev/null && ! docker compose version >/dev/null 2>&1; then
    packages+=(docker-compose)
fi
if [ "${#packages[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    { apt-get update -qq && apt-get install -y -qq "${packages[@]}"; } >>"$log" 2>&1 ||
        fail "apt-get install ${packages[*]} failed (see $log)"
fi

# --- daemon -----------------------------------------------------------------
if ! timeout 10 "$docker" info >/dev/null 2>&1; then
    # 9>&-: the daemon outlives this script and must not keep its lock.
    setsid /usr/sbin/dockerd >>"$daemon_log" 2>&1 </dev/null 9>&- &
    daemon=$!
    deadline=$((SECONDS + daemon_wait))
    until timeout 5 "$docker" info >/dev/null 2>&1; do
        kill -0 "$daemon" 2>/dev/null ||
            fail "dockerd exited: $(tail -n 1 "$daemon_log") (see $daemon_log)"
        [ "$SECONDS" -lt "$deadline" ] ||
            fail "dockerd did not answer within ${daemon_wait}s (see $daemon_log)"
        sleep 0.5
    done
fi

# --- base image -------------------------------------------------------------
"$docker" image inspect "$image" >/dev/null 2>&1 && exit 0

tree=$(mktemp -d /var/tmp/base-image.XXXXXX)
cleanup() {
    # debootstrap mounts these while it works; never delete through a mount.
    umount -l "$tree/proc" "$tree/sys" "$tree/dev/pts" 2>/dev/null || true
    rm -rf --one-file-system "$tree"
}
trap cleanup EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$tree" "$mirror" >>"$log" 2>&1 ||
    fail "debootstrap $suite from $mirror failed (see $log)"

# Trust what the host trusts (a TLS-inspecting proxy's CA, say), so pip and uv
# reach PyPI from `docker build` whenever they do from the host.
host_bundle=/etc/ssl/certs/ca-certificates.crt
if [ -f "$host_bundle" ]; then
    awk -v prefix="$tree/usr/local/share/ca-certificates/host-" '
        FNR == 1 { file++ }
        { sub(/\r$/, "") }
        /-----BEGIN CERTIFICATE-----/ { inside = 1; pem = ""; body = "" }
        inside { pem = pem $0 "\n"; if ($0 !~ /^-----/) body = body $0 }
        /-----END CERTIFICATE-----/ {
            inside = 0
            if (file == 1) known[body] = 1
            else if (!(body in known)) { out = prefix (++n) ".crt"; printf "%s", pem > out; close(out) }
        }
    ' "$tree$host_bundle" "$host_bundle"
    chroot "$tree" update-ca-certificates >>"$log" 2>&1 ||
        fail "update-ca-certificates in the base image failed (see $log)"
fi

# What python:*-slim images leave out too: package lists, caches, docs.
rm -rf "$tree"/var/lib/apt/lists/* "$tree"/var/cache/apt/* "$tree"/var/cache/debconf/*-old \
    "$tree"/usr/share/doc/* "$tree"/usr/share/man/* "$tree"/usr/share/info/* "$tree"/var/log/*

# `docker import` sets no environment: give RUN steps the usual PATH, a UTF-8
# locale, and point pip and uv at the system's CA bundle.
tar --numeric-owner -C "$tree" -cf - . |
    "$docker" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "ENV SSL_CERT_FILE=$host_bundle PIP_CERT=$host_bundle" \
        --change 'CMD ["python3"]' \
        - "$image" >>"$log" 2>&1 ||
    fail "docker import of the $suite tree as $image failed (see $log)"
