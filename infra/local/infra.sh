#!/usr/bin/env bash
# Real local infrastructure on 127.0.0.1, no container images needed:
# Apache Kafka (KRaft), PostgreSQL, Redis, Prometheus and a Docker engine.
#
#   infra/local/infra.sh install            apt packages + Kafka jars (cached outside the clone)
#   infra/local/infra.sh up [COMPONENT...]  start (idempotent; default: all)
#   infra/local/infra.sh status             one line per component
#   infra/local/infra.sh down [COMPONENT...] stop
#   infra/local/infra.sh secret NAME       a secret of this machine, made on first use (NAME: redis,
#                                          postgres: the servers' passwords; command, operator: the keys
#                                          that sign commands)
#
# Secrets: AIG_REDIS_PASSWORD, AIG_POSTGRES_PASSWORD, AIG_COMMAND_KEY, AIG_OPERATOR_KEY when set, else a
# random one kept in $AIG_STATE_DIR/secrets (mode 600). The Makefile exports them to everything it
# runs; a shell of your own does: export AIG_REDIS_PASSWORD=$(infra/local/infra.sh secret redis).
#
# Components: kafka postgres redis prometheus docker. State lives in $AIG_STATE_DIR
# (default /var/tmp/autoinfraguard), caches in $AIG_CACHE_DIR (default ~/.cache/autoinfraguard).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${AIG_STATE_DIR:-/var/tmp/autoinfraguard}
CACHE=${AIG_CACHE_DIR:-$HOME/.cache/autoinfraguard}
KAFKA_PORT=${AIG_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${AIG_KAFKA_CONTROLLER_PORT:-9093}
PG_PORT=${AIG_PG_PORT:-55432}
REDIS_PORT=${AIG_REDIS_PORT:-56379}
PROM_PORT=${AIG_PROM_PORT:-9090}
BASE_IMAGE=${AIG_BASE_IMAGE:-aig-base:bookworm}
RUNTIME_IMAGE=${AIG_RUNTIME_IMAGE:-aig-runtime:local}
ALL=(kafka postgres redis prometheus docker)
KAFKA_LIBS="$CACHE/kafka/libs"

log() { printf '[infra] %s\n' "$*" >&2; }
secret() { # name: the configured secret, or the generated one of this machine's state dir
  local var file
  case $1 in
    redis | postgres) var=AIG_$(printf '%s' "$1" | tr a-z A-Z)_PASSWORD ;;
    command | operator) var=AIG_$(printf '%s' "$1" | tr a-z A-Z)_KEY ;;
    *) die "unknown secret '$1' (known: redis postgres command operator)" ;;
  esac
  if [[ -n ${!var:-} ]]; then printf '%s' "${!var}"; return 0; fi
  file=$STATE/secrets/$1
  if [[ ! -s $file ]]; then
    (umask 077 && mkdir -p "$STATE/secrets" && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$file")
  fi
  cat "$file"
}
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_owner() { ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*",pid=[0-9]*\).*/\1/p' | head -1; }

wait_port() { # name port seconds logfile
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    port_open "$2" && return 0
    sleep 0.2
  done
  die "$1 did not open port $2 within $3 s; see its log: $4"
}

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

refuse_foreign_port() { # name port pidfile log
  if port_open "$2" && ! pid_alive "$3"; then
    die "$1: port 127.0.0.1:$2 is taken by another process ($(port_owner "$2")); stop it or set the AIG_*_PORT variable. Log: $4"
  fi
}

# ---------------------------------------------------------------- install
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || die "apt-get update failed"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

install_kafka_jars() {
  if [[ -f $CACHE/kafka/pom.xml ]] && cmp -s "$REPO/infra/kafka/pom.xml" "$CACHE/kafka/pom.xml" \
    && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null || apt_install maven
  log "resolving the Kafka broker jars from Maven Central into $KAFKA_LIBS"
  mkdir -p "$CACHE/kafka"
  rm -rf "$KAFKA_LIBS"
  cp "$REPO/infra/kafka/pom.xml" "$CACHE/kafka/pom.xml.new"
  (cd "$CACHE/kafka" && mvn -q -B -f pom.xml.new dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS") || die "maven could not resolve the Kafka jars"
  mv "$CACHE/kafka/pom.xml.new" "$CACHE/kafka/pom.xml"
}

cmd_install() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  apt_install postgresql redis-server prometheus docker.io debootstrap iproute2 maven
  install_kafka_jars
}

# ---------------------------------------------------------------- kafka
kafka_up() {
  local dir=$STATE/kafka pidf=$STATE/kafka/kafka.pid logf=$STATE/kafka/kafka.log
  mkdir -p "$dir"
  if pid_alive "$pidf" && port_open "$KAFKA_PORT"; then return 0; fi
  refuse_foreign_port kafka "$KAFKA_PORT" "$pidf" "$logf"
  command -v java >/dev/null || die "kafka: java is missing (run: infra/local/infra.sh install)"
  compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null || install_kafka_jars
  sed -e "s#@DATA@#$dir/data#; s#@PORT@#$KAFKA_PORT#g; s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
    "$REPO/infra/kafka/server.properties.in" >"$dir/server.properties"
  if [[ ! -f $dir/data/meta.properties ]]; then
    log "formatting Kafka storage in $dir/data"
    java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$REPO/infra/kafka/log4j2.yaml" kafka.tools.StorageTool \
      format -t "$(cat /proc/sys/kernel/random/uuid | tr -d - | head -c 22)" -c "$dir/server.properties" \
      --standalone >"$dir/format.log" 2>&1 || die "kafka storage format failed; see $dir/format.log"
  fi
  log "starting Kafka on 127.0.0.1:$KAFKA_PORT (log: $logf)"
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -Dlog4j2.configurationFile="$REPO/infra/kafka/log4j2.yaml" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" >"$logf" 2>&1 &
  echo $! >"$pidf"
  wait_port kafka "$KAFKA_PORT" 90 "$logf"
}

# ---------------------------------------------------------------- postgres
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
pg_up() {
  local dir=$STATE/postgres bin logf=$STATE/postgres/postgres.log
  bin=$(pg_bin)
  [[ -n $bin ]] || die "postgres: not installed (run: infra/local/infra.sh install)"
  mkdir -p "$dir/run"
  chown postgres:postgres "$dir" "$dir/run"
  if ! runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    pg_start "$bin" "$dir" "$logf"
  fi
  pg_roles "$dir" "$logf"
}
pg_start() { # bin dir logfile
  local bin=$1 dir=$2 logf=$3
  refuse_foreign_port postgres "$PG_PORT" /nonexistent "$logf"
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    log "initialising PostgreSQL in $dir/data"
    runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 >"$dir/initdb.log" 2>&1 || die "initdb failed; see $dir/initdb.log"
  fi
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT (log: $logf)"
  touch "$logf" && chown postgres:postgres "$logf"
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$logf" -w -t 60 \
    -o "-p $PG_PORT -k $dir/run -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null \
    || die "PostgreSQL did not start; see $logf"
}
pg_roles() { # dir logfile: the role aig with this machine's password, and its database
  local dir=$1 logf=$2
  runuser -u postgres -- psql -h "$dir/run" -p "$PG_PORT" -U postgres -qtAc \
    "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='aig') THEN CREATE ROLE aig LOGIN CREATEDB; END IF; END\$\$;" \
    >/dev/null || die "could not create role aig; see $logf"
  # The password goes through the environment into a psql variable, never on a command line.
  printf "\\getenv pw AIG_PG_ROLE_PASSWORD\nALTER ROLE aig PASSWORD :'pw';\n" |
    AIG_PG_ROLE_PASSWORD=$(secret postgres) runuser -u postgres -- psql -h "$dir/run" -p "$PG_PORT" -U postgres -q \
      -v ON_ERROR_STOP=1 >/dev/null || die "could not set the password of role aig; see $logf"
  if ! runuser -u postgres -- psql -h "$dir/run" -p "$PG_PORT" -U postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='aig'" | grep -q 1; then
    runuser -u postgres -- createdb -h "$dir/run" -p "$PG_PORT" -U postgres -O aig aig || die "createdb aig failed"
  fi
}
pg_down() {
  local bin
  bin=$(pg_bin)
  [[ -n $bin && -f $STATE/postgres/data/PG_VERSION ]] || return 0
  runuser -u postgres -- "$bin/pg_ctl" -D "$STATE/postgres/data" -m fast -w stop >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- redis
redis_up() {
  local dir=$STATE/redis pidf=$STATE/redis/redis.pid logf=$STATE/redis/redis.log
  mkdir -p "$dir"
  if pid_alive "$pidf" && port_open "$REDIS_PORT"; then
    # A server of an older state dir may run without the password: restart it with one.
    if redis-cli -p "$REDIS_PORT" ping 2>&1 | grep -q NOAUTH &&
      REDISCLI_AUTH=$(secret redis) redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then return 0; fi
    log "Redis on $REDIS_PORT does not take this machine's password; restarting it with the password"
    stop_pidfile redis "$pidf"
  fi
  refuse_foreign_port redis "$REDIS_PORT" "$pidf" "$logf"
  command -v redis-server >/dev/null || die "redis: not installed (run: infra/local/infra.sh install)"
  log "starting Redis on 127.0.0.1:$REDIS_PORT (log: $logf)"
  # The password goes in through stdin (config file "-"), not the command line.
  printf 'requirepass %s\n' "$(secret redis)" | redis-server - --bind 127.0.0.1 --port "$REDIS_PORT" \
    --daemonize yes --dir "$dir" --pidfile "$pidf" --logfile "$logf" --appendonly yes --save "" >/dev/null \
    || die "redis-server failed; see $logf"
  wait_port redis "$REDIS_PORT" 20 "$logf"
}

# ---------------------------------------------------------------- prometheus
prom_up() {
  local dir=$STATE/prometheus pidf=$STATE/prometheus/prometheus.pid logf=$STATE/prometheus/prometheus.log
  mkdir -p "$dir/data"
  if pid_alive "$pidf" && port_open "$PROM_PORT"; then return 0; fi
  refuse_foreign_port prometheus "$PROM_PORT" "$pidf" "$logf"
  command -v prometheus >/dev/null || die "prometheus: not installed (run: infra/local/infra.sh install)"
  log "starting Prometheus on 127.0.0.1:$PROM_PORT (log: $logf)"
  nohup prometheus --config.file="$REPO/infra/prometheus/prometheus.local.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --storage.tsdb.retention.time=2d >"$logf" 2>&1 &
  echo $! >"$pidf"
  wait_port prometheus "$PROM_PORT" 30 "$logf"
}

# ---------------------------------------------------------------- docker
docker_up() {
  local dir=$STATE/docker pidf=$STATE/docker/dockerd.pid logf=$STATE/docker/dockerd.log i
  mkdir -p "$dir"
  if ! docker info >/dev/null 2>&1; then
    command -v dockerd >/dev/null || die "docker: dockerd not installed (run: infra/local/infra.sh install)"
    log "starting the Docker engine (log: $logf)"
    # No bridge and no iptables: containers here use host networking only.
    nohup dockerd --bridge=none --iptables=false --ip-masq=false --pidfile "$dir/dockerd.docker.pid" \
      >"$logf" 2>&1 &
    echo $! >"$pidf"
    for ((i = 0; i < 150; i++)); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 || die "the Docker engine did not answer within 30 s; see $logf"
  fi
  docker_images
}

docker_images() {
  if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || apt_install debootstrap
    local root=$STATE/docker/rootfs
    log "building base image $BASE_IMAGE with debootstrap (about a minute)"
    rm -rf "$root"
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$STATE/docker/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $STATE/docker/debootstrap.log"
    tar -C "$root" -c . | docker import - "$BASE_IMAGE" >/dev/null || die "docker import failed"
    rm -rf "$root"
  fi
  if ! docker image inspect "$RUNTIME_IMAGE" >/dev/null 2>&1; then
    log "building runtime image $RUNTIME_IMAGE"
    docker build -q --network host --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$RUNTIME_IMAGE" \
      -f "$REPO/infra/docker/runtime.Dockerfile" "$REPO/infra/docker" >"$STATE/docker/build.log" 2>&1 \
      || die "building $RUNTIME_IMAGE failed; see $STATE/docker/build.log"
  fi
}

docker_down() {
  local pidf=$STATE/docker/dockerd.pid
  pid_alive "$pidf" || return 0
  kill "$(cat "$pidf")" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do pid_alive "$pidf" || break; sleep 0.2; done
}

# ---------------------------------------------------------------- generic
stop_pidfile() { # name pidfile
  pid_alive "$2" || return 0
  log "stopping $1"
  kill "$(cat "$2")" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do pid_alive "$2" || return 0; sleep 0.2; done
  kill -9 "$(cat "$2")" 2>/dev/null || true
}

status_line() { # name port ok
  if [[ $3 == up ]]; then printf '%-11s up    %s\n' "$1" "$2"; else printf '%-11s down  %s\n' "$1" "$2"; fi
}

cmd_status() {
  local rc=0 s
  s=down; port_open "$KAFKA_PORT" && s=up; status_line kafka "127.0.0.1:$KAFKA_PORT" $s; [[ $s == up ]] || rc=1
  s=down; port_open "$PG_PORT" && s=up; status_line postgres "127.0.0.1:$PG_PORT" $s; [[ $s == up ]] || rc=1
  s=down; port_open "$REDIS_PORT" && s=up; status_line redis "127.0.0.1:$REDIS_PORT" $s; [[ $s == up ]] || rc=1
  s=down; port_open "$PROM_PORT" && s=up; status_line prometheus "127.0.0.1:$PROM_PORT" $s; [[ $s == up ]] || rc=1
  s=down; docker info >/dev/null 2>&1 && s=up; status_line docker /var/run/docker.sock $s; [[ $s == up ]] || rc=1
  return $rc
}

component_up() {
  case $1 in
    kafka) kafka_up ;; postgres) pg_up ;; redis) redis_up ;; prometheus) prom_up ;; docker) docker_up ;;
    *) die "unknown component '$1' (known: ${ALL[*]})" ;;
  esac
}
component_down() {
  case $1 in
    kafka) stop_pidfile kafka "$STATE/kafka/kafka.pid" ;;
    postgres) pg_down ;;
    redis) stop_pidfile redis "$STATE/redis/redis.pid" ;;
    prometheus) stop_pidfile prometheus "$STATE/prometheus/prometheus.pid" ;;
    docker) docker_down ;;
    *) die "unknown component '$1' (known: ${ALL[*]})" ;;
  esac
}

main() {
  local cmd=${1:-status}
  shift || true
  local comps=("$@")
  ((${#comps[@]})) || comps=("${ALL[@]}")
  mkdir -p "$STATE"
  case $cmd in
    install) cmd_install ;;
    up) for c in "${comps[@]}"; do component_up "$c"; done; cmd_status || true ;;
    down) for c in "${comps[@]}"; do component_down "$c"; done ;;
    status) cmd_status ;;
    secret) secret "${comps[0]}" ;;
    *) die "usage: infra.sh install|up|status|down [${ALL[*]}] | secret redis|postgres|command|operator" ;;
  esac
}
main "$@"
