#!/usr/bin/env bash
# See infra.sh: up the local infrastructure.
exec "$(dirname "$0")/infra.sh" up "$@"
