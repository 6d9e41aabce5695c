#!/usr/bin/env bash
# See infra.sh: down the local infrastructure.
exec "$(dirname "$0")/infra.sh" down "$@"
