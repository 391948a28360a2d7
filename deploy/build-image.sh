#!/bin/sh
# Builds the model-runtime container image from an installed tree:
#   deploy/build-image.sh [build dir] [image tag] [model repository]
# (defaults: build, model-runtime:<version>, the project's models/). The
# build dir must be configured with the default prefix (/usr/local), which
# the installed binaries use to find their plugins and worker. Uses docker,
# or podman when there is no docker. See docs/deploy.md.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
version=$(sed -n "s/^  version: '\(.*\)',$/\1/p" "$root/meson.build" | head -1)
tag=${2:-model-runtime:$version}
models=${3:-$root/models}
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
[ "$prefix" = /usr/local ] || { echo "build-image: $build has prefix $prefix; the image expects /usr/local"; exit 1; }

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
meson install -C "$build" --destdir "$context/install" --quiet
# The system models installed under <datadir>/mrt/models are the image's
# /models; drop the copy so the image holds them once.
rm -rf "$context/install/usr/local/share/mrt/models"
cp -r "$models" "$context/models"
cp "$root/deploy/Containerfile" "$context/Containerfile"
engine=$(command -v docker || command -v podman || true)
[ -n "$engine" ] || { echo "build-image: no docker or podman; the context is ready in $context (kept)"; trap - EXIT; exit 1; }
"$engine" build -t "$tag" -f "$context/Containerfile" "$context"
echo "built $tag"
