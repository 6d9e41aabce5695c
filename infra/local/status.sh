#!/usr/bin/env bash
# See infra.sh: status the local infrastructure.
exec "$(dirname "$0")/infra.sh" status "$@"
