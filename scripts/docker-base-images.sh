#!/usr/bin/env bash
# Builds local stand-ins for the base images that docker-compose.yml and deploy/Dockerfile
# name (node:20-bookworm-slim, debian:bookworm-slim, redis:7.2-bookworm, nginx:1.27-bookworm,
# and prom/prometheus:v2.53.0 for the `monitoring` profile) for a machine whose Docker
# engine reaches Debian's mirror and the npm registry but no container registry. Made from
# Debian packages only:
#
#   debian  a minimal bookworm root file system (mmdebstrap --variant=minbase), imported
#   node    debian + this machine's own node binary and npm, its CA bundle, user node (1000)
#   redis   debian + Debian's redis-server and redis-cli, /data, user redis (999)
#   nginx   debian + Debian's nginx, user and group nginx (101)
#   prometheus  debian + Debian's prometheus as entrypoint, user nobody (65534), /prometheus
#
# Grafana is not packaged by Debian: no stand-in is made for it (docs/DEPLOY.md).
#
# Each image is labelled with a digest of what it was made from (this script, its
# Dockerfile under deploy/base-images/, the node binary, the CA bundle, its parent image)
# and is rebuilt only when that digest changes: a second run on the same machine takes
# seconds. Progress goes to stderr; stdout gets only the variables that make compose use
# the stand-ins, one NAME=value per line, ready for compose's .env file:
#
#   scripts/docker-base-images.sh > .env && docker-compose up --build
#
# Needs: docker (a running engine), mmdebstrap (root, or unprivileged user namespaces),
# node and npm. Knobs (environment):
#   BASE_IMAGE_PREFIX       image names' prefix                  (securechat-base)
#   DEBIAN_MIRROR           Debian archive                       (http://deb.debian.org/debian)
#   DEBIAN_SECURITY_MIRROR  Debian security archive              (http://deb.debian.org/debian-security)
#   NODE_BIN                the node binary to copy              (node on PATH)
#   NPM_DIR                 the npm package directory to copy    (the one npm on PATH runs)
#   CA_BUNDLE               PEM bundle node trusts in the image  ($NODE_EXTRA_CA_CERTS, else
#                                                                 /etc/ssl/certs/ca-certificates.crt)
#   FORCE=1                 rebuild every image
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dockerfiles="$root/deploy/base-images"
prefix="${BASE_IMAGE_PREFIX:-securechat-base}"
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
label=org.securechat.base-image.inputs

debian_image="$prefix/debian:$suite-slim"
node_image="$prefix/node:20-$suite-slim"
redis_image="$prefix/redis:$suite"
nginx_image="$prefix/nginx:$suite"
prometheus_image="$prefix/prometheus:$suite"

say() { printf '[base-images] %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

for tool in docker mmdebstrap sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian: apt-get install docker.io mmdebstrap)"
done
docker info >/dev/null 2>&1 || die 'no Docker engine answers (start dockerd, or check DOCKER_HOST)'

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

digest() { sha256sum | cut -c1-64; }
file_digest() { sha256sum "$1" | cut -c1-64; }
# The digest an image was built from, or nothing when there is no such image.
built_from() { docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$1" 2>/dev/null || true; }
image_id() { docker image inspect --format '{{.Id}}' "$1"; }
fresh() {
  if [ "${FORCE:-0}" != 1 ] && [ "$(built_from "$1")" = "$2" ]; then
    say "$1 is up to date"
    return 0
  fi
  return 1
}
seconds() { printf '%ss' "$((SECONDS - $1))"; }

# ---- debian: a minimal bookworm, imported ----------------------------------------------
# Like the official slim image: no documentation, man pages or translations, and no
# recommended packages (the setting stays in the image for the builds on top of it).
debian_args=(
  --variant=minbase --include=ca-certificates
  --aptopt='APT::Install-Recommends "false"'
  --aptopt='APT::Install-Suggests "false"'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --customize-hook='rm -rf "$1"/usr/share/man/* "$1"/usr/share/info/* "$1"/usr/share/locale/*'
  "$suite" "$work/rootfs.tar"
  "deb $mirror $suite main"
  "deb $mirror $suite-updates main"
  "deb $security_mirror $suite-security main"
)
debian_changes=(
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change 'CMD ["bash"]'
)
# $work differs on every run: it is left out of the digest.
debian_inputs="$(printf '%s\n' "${debian_args[@]//$work/}" "${debian_changes[@]}" | digest)"
if ! fresh "$debian_image" "$debian_inputs"; then
  started=$SECONDS
  say "building $debian_image with mmdebstrap from $mirror (about a minute)"
  mmdebstrap "${debian_args[@]}" >&2
  docker import "${debian_changes[@]}" --change "LABEL $label=$debian_inputs" \
    "$work/rootfs.tar" "$debian_image" >&2
  rm -f "$work/rootfs.tar"
  say "$debian_image built in $(seconds "$started")"
fi
debian_id="$(image_id "$debian_image")"

# build <image> <Dockerfile name> <context dir> <inputs digest>
build() {
  if fresh "$1" "$4"; then return 0; fi
  local started=$SECONDS
  say "building $1 from deploy/base-images/$2"
  cp "$dockerfiles/$2" "$3/Dockerfile"
  # The classic builder: it needs no BuildKit frontend image (none can be pulled).
  DOCKER_BUILDKIT=0 docker build --build-arg "BASE=$debian_image" --label "$label=$4" \
    --tag "$1" "$3" >&2
  say "$1 built in $(seconds "$started")"
}

# ---- node: this machine's node and npm --------------------------------------------------
node_bin="$(readlink -f "${NODE_BIN:-$(command -v node || true)}")"
[ -x "$node_bin" ] || die 'node is missing (set NODE_BIN)'
npm_dir="${NPM_DIR:-}"
if [ -z "$npm_dir" ]; then
  npm_cli="$(readlink -f "$(command -v npm || true)")"
  [ -f "$npm_cli" ] || die 'npm is missing (set NPM_DIR)'
  npm_dir="$(dirname "$(dirname "$npm_cli")")"
fi
[ -f "$npm_dir/package.json" ] || die "$npm_dir is not npm's package directory (set NPM_DIR)"
ca_bundle="${CA_BUNDLE:-${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}}"
[ -f "$ca_bundle" ] || die "no CA bundle at $ca_bundle (set CA_BUNDLE)"
node_version="$("$node_bin" --version)"
case "$node_version" in
  v20.*) ;;
  *) die "$node_bin is Node $node_version; the image stands in for Node 20 (set NODE_BIN)" ;;
esac
node_inputs="$(
  printf '%s\n' "$debian_id" "$(file_digest "$dockerfiles/node.Dockerfile")" \
    "$(file_digest "$node_bin")" "$(file_digest "$ca_bundle")" \
    "$(tar -C "$npm_dir" --sort=name --mtime=@0 --owner=0 --group=0 -cf - . | digest)" | digest
)"
if ! fresh "$node_image" "$node_inputs"; then
  mkdir "$work/node"
  cp "$node_bin" "$work/node/node"
  cp -r "$npm_dir" "$work/node/npm"
  cp "$ca_bundle" "$work/node/ca-certificates.crt"
  build "$node_image" node.Dockerfile "$work/node" "$node_inputs"
fi

# ---- redis, nginx and prometheus: Debian's packages -----------------------------------------
for pair in "redis:$redis_image" "nginx:$nginx_image" "prometheus:$prometheus_image"; do
  name="${pair%%:*}"
  image="${pair#*:}"
  inputs="$(printf '%s\n' "$debian_id" "$(file_digest "$dockerfiles/$name.Dockerfile")" | digest)"
  if ! fresh "$image" "$inputs"; then
    mkdir "$work/$name"
    build "$image" "$name.Dockerfile" "$work/$name" "$inputs"
  fi
done

cat <<EOF
NODE_IMAGE=$node_image
DEBIAN_IMAGE=$debian_image
REDIS_IMAGE=$redis_image
NGINX_IMAGE=$nginx_image
PROMETHEUS_IMAGE=$prometheus_image
EOF
