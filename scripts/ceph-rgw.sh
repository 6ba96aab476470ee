#!/usr/bin/env bash
# A throwaway Ceph RADOS Gateway (real S3) on 127.0.0.1 for tests and CI:
# one mon + one memstore OSD + radosgw, from Debian's packages, in a state dir.
#
#   scripts/ceph-rgw.sh up       install if missing, start, create user and buckets, print env
#   scripts/ceph-rgw.sh env      print the export lines:  eval "$(scripts/ceph-rgw.sh env)"
#   scripts/ceph-rgw.sh status   what runs (exit 0 when all three daemons run and the gateway answers)
#   scripts/ceph-rgw.sh down     stop the daemons it started (pid files), remove the state dir
#
# Settings (environment):
#   CEPH_RGW_DIR                    state dir (default <repo>/.ci/ceph)
#   CEPH_RGW_PORT                   gateway port (default 7480, or the next free one)
#   CEPH_RGW_TIMEOUT                seconds to wait for each step (default 60)
#   SESSIONS_TEST_BUCKET            test bucket (default runner-sessions-test)
#   SESSIONS_TEST_VERSIONED_BUCKET  versioned bucket (default runner-sessions-versioned)
#
# Progress and errors go to stderr; only the env lines go to stdout.
#
# Where this RGW (Ceph 16.2, Debian 12) differs from Amazon S3, as measured:
# - PUT If-Match matches only the bare ETag; the quoted form ("...") always gets 412.
# - PUT If-Match on a missing key: 412 PreconditionFailed (AWS: 404 NoSuchKey).
# - Concurrent conditional PUTs to one key: some get 500 UnknownError (AWS: 409
#   ConditionalRequestConflict); the write did not happen, so re-read and retry.
# - Versioned buckets: If-None-Match: * never refuses (it adds a version) and If-Match
#   always gets 412, so no create-only or compare-and-swap there.
# - A streamed body with the SDK's default checksums gets 411; send strings, or use
#   requestChecksumCalculation: 'WHEN_REQUIRED'.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${CEPH_RGW_DIR:-$root/.ci/ceph}
timeout_s=${CEPH_RGW_TIMEOUT:-60}
bucket=${SESSIONS_TEST_BUCKET:-runner-sessions-test}
versioned_bucket=${SESSIONS_TEST_VERSIONED_BUCKET:-runner-sessions-versioned}
# Fixed credentials of the throwaway S3 user; they open nothing but this loopback gateway.
access_key=RUNNERSESSIONSTEST01
secret_key=runner-sessions-test-secret-key-not-a-secret
marker=.ceph-rgw-state
daemons=(mon.a osd.0 client.rgw.a)
packages=(ceph-mon ceph-osd radosgw ceph-common)
commands=(ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool)

conf=$state/ceph.conf
export CEPH_CONF=$conf

say() { printf 'ceph-rgw: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
now_ms() { date +%s%3N; }

# Tail of the logs that matter, for a failure message.
show_logs() {
  local name file
  for name in "$@"; do
    for file in "$state/log/$name.log" "$state/log/$name.out"; do
      [[ -s $file ]] || continue
      printf '%s\n' "---- tail of $file" >&2
      tail -n 25 "$file" >&2
    done
  done
}

# ---------------------------------------------------------------- processes

pid_file() { printf '%s/pids/%s.pid\n' "$state" "$1"; }

# The pid recorded for daemon $1, printed only when that process is alive, not a
# zombie, and was started with this state dir's ceph.conf (so a reused pid is never touched).
live_pid() {
  local file pid stat
  file=$(pid_file "$1")
  [[ -r $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$conf" || return 1
  printf '%s\n' "$pid"
}

# Start daemon $1 (binary $2, more args after) in the foreground of its own session, detached
# from our stdio, and record its pid. Two malloc arenas (not 8 a core) halve the OSD's memory.
start_daemon() {
  local name=$1 binary=$2
  shift 2
  MALLOC_ARENA_MAX=2 setsid "$binary" -f -c "$conf" "$@" </dev/null >>"$state/log/$name.out" 2>&1 &
  printf '%s\n' "$!" >"$(pid_file "$name")"
}

stop_daemon() {
  local name=$1 pid deadline
  pid=$(live_pid "$name") || { rm -f "$(pid_file "$name")"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while live_pid "$name" >/dev/null; do
    if ((SECONDS >= deadline)); then
      say "$name (pid $pid) still running 10 s after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
    fi
    sleep 0.1
  done
  rm -f "$(pid_file "$name")"
}

# ---------------------------------------------------------------- network

# True when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The first port from $1 upwards that nothing listens on.
free_port() {
  local port=$1
  while port_in_use "$port"; do
    port=$((port + 1))
    ((port < 65535)) || die "no free port from $1 up"
  done
  printf '%s\n' "$port"
}

# True when an HTTP server answers on 127.0.0.1:$1 (any status: radosgw starts its
# frontend only after it has finished initialising).
http_answers() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
    IFS= read -r -t 2 line <&3
    IFS= read -r -t 2 -d '' _ <&3 || true # drain the answer, so that radosgw logs no broken pipe
    [[ $line =~ ^HTTP/1\.[01]\ [0-9]{3} ]]
  ) 2>/dev/null
}

# True once osd.0 has seen itself up in the OSD map (its log says so at the default level).
osd_active() { grep -qF 'state: booting -> active' "$state/log/osd.0.log" 2>/dev/null; }

# ---------------------------------------------------------------- install

install_packages() {
  local missing=() cmd
  for cmd in "${commands[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  ((${#missing[@]} == 0)) && return 0
  ((EUID == 0)) || die "missing ${missing[*]}; run as root or install: apt-get install ${packages[*]}"
  local log t0
  log=$(mktemp)
  t0=$(now_ms)
  say "installing ${packages[*]} (missing: ${missing[*]})"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends -o Dpkg::Use-Pty=0 "${packages[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    die "apt-get install failed"
  fi
  rm -f "$log"
  say "installed in $(($(now_ms) - t0)) ms ($(ceph --version | cut -d' ' -f1-3))"
}

# ---------------------------------------------------------------- node helper

find_node() {
  local candidate
  for candidate in node "$root/.ci/node/node_modules/.bin/node"; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=18)?0:1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# ---------------------------------------------------------------- commands

write_env() {
  {
    printf 'export AWS_ENDPOINT_URL_S3=%q\n' "http://127.0.0.1:$1"
    printf 'export AWS_ACCESS_KEY_ID=%q\n' "$access_key"
    printf 'export AWS_SECRET_ACCESS_KEY=%q\n' "$secret_key"
    printf 'export AWS_REGION=us-east-1\n'
    printf 'export SESSIONS_TEST_BUCKET=%q\n' "$bucket"
    printf 'export SESSIONS_TEST_VERSIONED_BUCKET=%q\n' "$versioned_bucket"
  } >"$state/env"
}

rgw_port() { [[ -r $state/port ]] && cat "$state/port"; }

running() {
  local name port
  for name in "${daemons[@]}"; do live_pid "$name" >/dev/null || return 1; done
  port=$(rgw_port) || return 1
  [[ -r $state/env ]] && http_answers "$port"
}

cmd_env() {
  local port
  [[ -r $state/env ]] || die "not up (no $state/env); run: scripts/ceph-rgw.sh up"
  if ! { port=$(rgw_port) && http_answers "$port"; }; then
    say "warning: the gateway does not answer; see scripts/ceph-rgw.sh status"
  fi
  cat "$state/env"
}

cmd_status() {
  local name pid port healthy=0
  if [[ ! -d $state ]]; then
    say "down (no state dir $state)"
    return 1
  fi
  for name in "${daemons[@]}"; do
    if pid=$(live_pid "$name"); then
      say "$name running, pid $pid"
    else
      say "$name not running"
      healthy=1
    fi
  done
  if port=$(rgw_port) && http_answers "$port"; then
    say "gateway answers on http://127.0.0.1:$port (state $state)"
  else
    say "gateway not answering"
    healthy=1
  fi
  return "$healthy"
}

cmd_down() {
  local i
  if [[ ! -e $state ]]; then
    say "down (nothing at $state)"
    return 0
  fi
  [[ -f $state/$marker ]] || die "$state exists but was not made by this script; not touching it"
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do stop_daemon "${daemons[i]}"; done
  rm -rf -- "$state"
  say "down (stopped its daemons, removed $state)"
}

write_conf() {
  local mon_port=$1 port=$2
  cat >"$conf" <<EOF
# Throwaway single-node cluster for tests, made by scripts/ceph-rgw.sh. Loopback only.
[global]
fsid = $(cat /proc/sys/kernel/random/uuid)
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.1/32
cluster network = 127.0.0.1/32
ms bind msgr1 = false
# No cephx; with auth off, radosgw hangs for 300 s unless mon client mode is crc.
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
keyring = $state/keyring
run dir = $state/run
admin socket = $state/run/\$name.asok
log file = $state/log/\$name.log
mon cluster log file = $state/log/cluster.log
# One OSD: one copy, few placement groups.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# The default (1 s) makes start-up and the first writes wait whole seconds for paxos;
# 0.02 rather than 0.1 halves the time radosgw takes to create its pools.
paxos propose interval = 0.02
# By default the mon warns below 30 % free disk and shuts down below 5 %.
mon data avail warn = 2
mon data avail crit = 1

[mon.a]
mon data = $state/mon

[osd.0]
osd data = $state/osd
osd objectstore = memstore
memstore device bytes = 1073741824
# Short PG logs: with the defaults (up to 10,000 entries a PG) the OSD grows by hundreds of MB.
osd min pg log entries = 100
osd max pg log entries = 500
osd target pg log entries per osd = 5000

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $state/rgw
rgw thread pool size = 64
rgw enable usage log = false
EOF
}

# Run "$@" until it succeeds. When a daemon has exited, show its logs and how it ended, and
# return 1 (the caller decides whether to try again); when the time is up, fail.
wait_for() {
  local what=$1 deadline name
  shift
  deadline=$((SECONDS + timeout_s))
  until "$@"; do
    for name in "${daemons[@]}"; do
      [[ -e $(pid_file "$name") ]] || continue # not started yet
      if ! live_pid "$name" >/dev/null; then
        say "$what: $name exited ($(exit_status "$name"))"
        show_logs "$name"
        show_limits
        return 1
      fi
    done
    if ((SECONDS >= deadline)); then
      show_logs "${daemons[@]}"
      die "$what: no answer after ${timeout_s} s"
    fi
    sleep 0.1
  done
}

# How daemon $1 (a child of this shell) ended: its exit status or the signal that killed it.
exit_status() {
  local pid rc=0
  pid=$(<"$(pid_file "$1")")
  wait "$pid" 2>/dev/null || rc=$?
  if ((rc == 127)); then
    printf 'status unknown'
  elif ((rc > 128)); then
    printf 'killed by signal %s' "$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
  else
    printf 'exit status %s' "$rc"
  fi
}

# What the machine allows, for a daemon that died without saying why.
show_limits() {
  say "limits: open files $(ulimit -n), processes $(ulimit -u), memory available" \
    "$(awk '/^MemAvailable:/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo)," \
    "disk free $(df -Pm "$state" | awk 'NR == 2 { print $4 " MiB" }')"
}

# EXIT trap of `up`: when it did not finish, stop what it started and keep the logs.
up_failed() {
  local rc=$? i
  ((rc != 0)) || return 0
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do stop_daemon "${daemons[i]}"; done
  say "up failed; its daemons are stopped, logs kept in $state/log (scripts/ceph-rgw.sh down removes them)"
}

# Run a command with a time limit, its output appended to log/steps.log; on failure show
# the tail of its own output and the log of any daemon that has died.
step() {
  local what=$1 out=$state/log/step.out name
  shift
  printf '+ %s\n' "$*" >>"$state/log/steps.log"
  if ! timeout "$timeout_s" "$@" >"$out" 2>&1; then
    cat "$out" >>"$state/log/steps.log"
    tail -n 15 "$out" >&2
    for name in "${daemons[@]}"; do
      [[ ! -e $(pid_file "$name") ]] || live_pid "$name" >/dev/null || show_logs "$name"
    done
    die "$what failed (or took more than ${timeout_s} s); logs in $state/log"
  fi
  cat "$out" >>"$state/log/steps.log"
}

cmd_up() {
  local t0 port mon_port node osd_uuid
  install_packages
  if running; then
    say "already up ($state); to restart: scripts/ceph-rgw.sh down && scripts/ceph-rgw.sh up"
    cmd_env
    return 0
  fi
  if [[ -e $state ]]; then
    say "cleaning up a stale state dir"
    cmd_down
  fi
  node=$(find_node) || die "node >= 22.18 is needed to create the buckets (put it on PATH)"
  [[ -d $root/node_modules/@aws-sdk/client-s3 ]] || die "no node_modules/@aws-sdk/client-s3; run npm ci first"

  t0=$(now_ms)
  if [[ -n ${CEPH_RGW_PORT:-} ]]; then
    port=$CEPH_RGW_PORT
    port_in_use "$port" && die "port $port (CEPH_RGW_PORT) is in use"
  else
    port=$(free_port 7480)
  fi
  mon_port=$(free_port 13300)
  ((mon_port != port)) || mon_port=$(free_port $((port + 1)))

  mkdir -p "$state"/{pids,log,run,mon,osd,rgw}
  touch "$state/$marker"
  trap up_failed EXIT
  printf '%s\n' "$port" >"$state/port"
  write_conf "$mon_port" "$port"

  # Monitor: a monmap with one mon, its store, then the daemon.
  step "monmap" monmaptool --create --clobber --fsid "$(sed -n 's/^fsid = //p' "$conf")" \
    --addv a "[v2:127.0.0.1:$mon_port]" "$state/monmap"
  step "mon mkfs" ceph-mon --mkfs -c "$conf" -i a --monmap "$state/monmap"
  start_daemon mon.a ceph-mon -i a

  # One OSD on memstore (data in RAM).
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  step "osd new" ceph --connect-timeout "$timeout_s" osd new "$osd_uuid" 0
  step "osd mkfs" ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid"
  start_daemon osd.0 ceph-osd -i 0
  # Wait until the OSD is up in the map: a radosgw that starts before may queue its first
  # read on a PG without an OSD, and only retry it at its next 5 s objecter tick.
  wait_for "osd.0 to boot" osd_active || die "osd.0 did not start; logs in $state/log"

  # The gateway; it creates its pools, then opens its frontend. A gateway that exits while
  # starting (seen once on a fresh machine, with empty logs) is started again, on a port
  # that is free now, up to three times.
  local attempt
  for attempt in 1 2 3; do
    start_daemon client.rgw.a radosgw -n client.rgw.a
    wait_for "radosgw on 127.0.0.1:$port" http_answers "$port" && break
    ((attempt < 3)) || die "radosgw did not start in 3 attempts; logs in $state/log"
    if [[ -z ${CEPH_RGW_PORT:-} ]]; then
      port=$(free_port "$((port + 1))")
      ((port != mon_port)) || port=$(free_port $((port + 1)))
    fi
    sed -i "s/^rgw frontends = .*/rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1/" "$conf"
    printf '%s\n' "$port" >"$state/port"
    say "starting radosgw again (attempt $((attempt + 1)) of 3) on port $port"
  done

  step "user create" radosgw-admin user create --uid=runner-sessions-test \
    --display-name="runner-sessions tests" --access-key="$access_key" --secret-key="$secret_key"
  write_env "$port"
  (
    # shellcheck source=/dev/null
    source "$state/env"
    step "bucket create" "$node" "$root/scripts/s3-bucket.ts" "$bucket" --versioned "$versioned_bucket"
  )
  trap - EXIT
  say "up in $(($(now_ms) - t0)) ms: http://127.0.0.1:$port, buckets $bucket and $versioned_bucket (versioned)"
  cmd_env
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  *)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
