#!/usr/bin/env bash
# Build the services image (autoinfraguard:local). Without a registry, the base is the local
# debootstrap image made by infra/local/infra.sh (aig-base:bookworm). A CA bundle named by
# PIP_CERT / SSL_CERT_FILE is copied into a temporary build context, never into the repository.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${AIG_BASE_IMAGE:-aig-base:bookworm}
TAG=${AIG_IMAGE:-autoinfraguard:local}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
(cd "$REPO" && git ls-files -z pyproject.toml README.md services loadgen schemas infra/postgres infra/docker \
  | xargs -0 cp --parents -t "$ctx")
ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
[[ -n $ca && -f $ca ]] && cp "$ca" "$ctx/build-ca.pem"
docker build --network host --build-arg BASE_IMAGE="$BASE" -t "$TAG" -f "$ctx/infra/docker/Dockerfile" "$ctx"
echo "built $TAG"
