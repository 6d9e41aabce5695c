# Minimal runtime for running the project's services in containers on this machine:
# the base is a debootstrap'ed Debian (no registry needed); python runs from the host's
# interpreter and virtualenv, bind-mounted read-only (see infra/local/README.md).
ARG BASE_IMAGE=aig-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates curl libssl3 libffi8 zlib1g libbz2-1.0 liblzma5 libsqlite3-0 libreadline8 libncursesw6 \
      libgomp1 libstdc++6 procps \
    && rm -rf /var/lib/apt/lists/*
