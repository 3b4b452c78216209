# Sourced by tests/servers.sh, tests/cluster.sh and tests/mariadb_cluster.sh (never run
# alone): what the three test-server scripts share. It only defines functions and two
# constants; the sourcing script first sets
#   LOG_TAG          its log prefix: [LOG_TAG] message
#   USAGE_END        sed address of the first line after the usage text of its header
#                    (usage prints lines 2 up to it, without it)
#   WHAT             what teardown reports stopped (servers, cluster, clusters)
#   MARKER           the file that marks a state folder as its own, before any rm -rf
#   STATE_DIR_VAR    the variable naming the state folder (DBMGMT_TEST_..._DIR)
#   STATE_VARS       the variables state.env keeps
#   PORT_LO PORT_HI  the block pick_free_port picks from (capped below the ephemeral range)
#   LOG_TAIL_LINES   how many lines show_log_tails prints of each log
#   PKGS SERVICES DISABLE_UNITS   for install_packages (servers.sh installs its own way)
# and defines set_paths, bring_up, stop_all (the processes, for teardown), set_vars and
# VARS; optionally exit_unless_up (cmd_start, after bring_up), state_loaded (after
# load_state), tools_present (checked by cmd_install) and our_pids (memory_in_use).
# shellcheck shell=bash

# The script that sourced this file: usage prints its header, cmd_start names it.
HARNESS_SCRIPT=${BASH_SOURCE[1]}

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() { log "error: $*"; exit 1; }
in_ci() { [[ ${CI:-} == true || ${CI:-} == 1 ]]; }
usage() {
    sed -n "2,${USAGE_END}p" "$HARNESS_SCRIPT" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

now_us() { echo "${EPOCHREALTIME/./}"; }
seconds_since() {   # start (from now_us): elapsed seconds with two decimals
    local d=$(($(now_us) - $1))
    printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000))
}

random_hex24() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }

# ---------------------------------------------------------------------------------------
# State: one folder per start, marked as ours, with state.env (root, 0600: the STATE_VARS
# as plain assignments, which load_state sources inside a function).
# ---------------------------------------------------------------------------------------
new_state_dir() {   # prefix: a fresh /tmp/PREFIX.XXXXXX as STATE_DIR
    STATE_DIR=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 0711 "$STATE_DIR"          # the servers' users must reach their own subfolders
    touch "$STATE_DIR/$MARKER"
    set_paths
}

save_state() {
    local v
    (
        umask 077
        for v in "${STATE_VARS[@]}"; do printf '%s=%q\n' "$v" "${!v}"; done \
            >"$STATE_DIR/state.env"
    )
}

load_state() {   # the folder named by $STATE_DIR_VAR, as `start` left it
    STATE_DIR=${!STATE_DIR_VAR:-}
    [[ -n $STATE_DIR ]] || die "$STATE_DIR_VAR is not set (run \`start\` first)"
    [[ -f $STATE_DIR/$MARKER && -f $STATE_DIR/state.env ]] ||
        die "$STATE_DIR is not a folder made by tests/${HARNESS_SCRIPT##*/}"
    set_paths
    # shellcheck source=/dev/null
    source "$STATE_DIR/state.env"
    if declare -F state_loaded >/dev/null; then state_loaded; fi
}

# A free TCP port on 127.0.0.1 in PORT_LO..PORT_HI and below the kernel's ephemeral range,
# so that no outgoing connection can take it while a test has the server stopped (it
# must come back on the same port), and not one already taken by this run. Free = nothing
# accepts a connection there. Sets PORT (not printed: a $(...) subshell would lose PICKED).
PICKED=() PORT=''
pick_free_port() {
    local lo hi port tries p
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
    hi=$((lo <= PORT_HI ? lo - 1 : PORT_HI))
    ((hi > PORT_LO + 100)) || die "the ephemeral port range starts at $lo: no room for fixed ports"
    for ((tries = 0; tries < 200; tries++)); do
        port=$((PORT_LO + (RANDOM * 32768 + RANDOM) % (hi - PORT_LO + 1)))
        for p in "${PICKED[@]}"; do ((p != port)) || continue 2; done
        if ! (exec 4<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            PICKED+=("$port")
            # shellcheck disable=SC2034 # read by the sourcing script
            PORT=$port
            return 0
        fi
    done
    die "no free TCP port found on 127.0.0.1"
}

# ---------------------------------------------------------------------------------------
# Processes. The scripts kill only what they started, never anything found by name.
# ---------------------------------------------------------------------------------------
is_zombie() { [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }
alive() { [[ -e /proc/$1 ]] && ! is_zombie "$1"; }

wait_gone() {   # pid: until it has exited (a zombie counts: nobody may reap it)
    local deadline=$((SECONDS + 30))
    while alive "$1"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

descendants() {   # pid: every process below it, deepest last
    local child
    for child in $(pgrep -P "$1" || true); do
        echo "$child"
        descendants "$child"
    done
}

kill_and_wait() {   # signal pids...
    local sig=$1 pid
    shift
    for pid; do kill "-$sig" "$pid" 2>/dev/null || true; done
    for pid; do wait_gone "$pid" || log "warning: pid $pid did not exit"; done
}

memory_in_use() {   # MiB: the proportional set size (Pss) of every process of our_pids
    local pid kb=0 pss
    for pid in $(our_pids); do
        pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null) || continue
        kb=$((kb + ${pss:-0}))
    done
    echo $((kb / 1024))
}

show_log_tails() {   # files...: the last lines of each that is not empty
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        log "---- last lines of $f"
        tail -n "$LOG_TAIL_LINES" "$f" >&2 || true
    done
}

# ---------------------------------------------------------------------------------------
# Packages. Decision: while apt-get runs, a temporary /usr/sbin/policy-rc.d that exits
# 101 stops invoke-rc.d / deb-systemd-invoke from starting the packages' default services
# (postgresql `main` on 5432, mariadb on 3306, etcd on 2379, pgbouncer on 6432). That is
# the robust choice: it works with and without systemd (containers have none), nothing is
# started only to be stopped, and we never stop a service someone else may be using. An
# existing policy-rc.d (Docker images ship one) is put back afterwards; one lock, shared
# by the three scripts, serializes concurrent installs so two runs cannot swap it over
# each other. The default services would not clash anyway: our servers use their own
# free ports, sockets and folders.
# ---------------------------------------------------------------------------------------
readonly POLICY_RC_D=/usr/sbin/policy-rc.d
readonly INSTALL_LOCK=/run/lock/dbmgmt-test-servers.install.lock
POLICY_SWAPPED=0

pkg_installed() { dpkg -s "$1" 2>/dev/null | grep -qx 'Status: install ok installed'; }

install_lock() {   # fd 9; install_unlock closes it (the servers must not inherit it)
    exec 9>"$INSTALL_LOCK"
    flock -w 900 9 || die "another install holds $INSTALL_LOCK"
}
install_unlock() { exec 9>&-; }

policy_rc_d_install() {
    if [[ -e $POLICY_RC_D ]]; then cp -p "$POLICY_RC_D" "$STATE_DIR/policy-rc.d.orig"; fi
    POLICY_SWAPPED=1
    printf '#!/bin/sh\n# temporary, from libdbmgmt tests/%s: %s\nexit 101\n' \
        "${HARNESS_SCRIPT##*/}" 'no service starts during install' >"$POLICY_RC_D"
    chmod 0755 "$POLICY_RC_D"
}

policy_rc_d_restore() {
    ((POLICY_SWAPPED)) || return 0
    if [[ -e $STATE_DIR/policy-rc.d.orig ]]; then
        mv -f "$STATE_DIR/policy-rc.d.orig" "$POLICY_RC_D"
    else
        rm -f "$POLICY_RC_D"
    fi
    POLICY_SWAPPED=0
}

apt_update() { apt-get -q -o DPkg::Lock::Timeout=300 update; }
apt_install() {   # packages...
    DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 \
        --no-install-recommends install "$@"
}

# Under systemd, a service that starts anyway (a package that ignores policy-rc.d) is
# stopped after the install, but only if it was not running before: it may be someone
# else's.
have_systemd() { [[ -d /run/systemd/system ]]; }

active_services() {   # the SERVICES systemd runs now, one a line
    have_systemd || return 0
    local s
    for s in "${SERVICES[@]}"; do
        systemctl is-active --quiet "$s.service" 2>/dev/null && echo "$s"
    done
    return 0
}

stop_services_started_by() {   # services running before, packages just installed
    local before=$1 installed=$2 s
    have_systemd || return 0
    for s in $(active_services); do
        grep -qx "$s" <<<"$before" && continue
        log "stopping $s.service, started by its package"
        systemctl stop "$s.service" || true
    done
    # DISABLE_UNITS (PACKAGE:UNIT): what this run installed must not start at the next
    # boot either: the packages are here for the tests only.
    for s in "${DISABLE_UNITS[@]}"; do
        grep -qw -- "${s%%:*}" <<<"$installed" || continue
        systemctl disable "${s#*:}.service" >/dev/null 2>&1 || true
    done
}

install_packages() {   # the missing PKGS; returns non-zero when one could not be installed
    local missing=() p before rc=0
    for p in "${PKGS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    install_lock
    missing=()
    for p in "${PKGS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    if ((${#missing[@]})); then
        before=$(active_services)
        policy_rc_d_install
        log "installing ${missing[*]} (log: $APT_LOG)"
        { apt_update && apt_install "${missing[@]}"; } >>"$APT_LOG" 2>&1 || rc=1
        policy_rc_d_restore
        stop_services_started_by "$before" "${missing[*]}"
    fi
    install_unlock
    return "$rc"
}

# ---------------------------------------------------------------------------------------
# MariaDB users
# ---------------------------------------------------------------------------------------
my_hash() {   # mysql_native_password hash, *HEX(SHA1(SHA1(pw))): the password stays in bash
    local h
    h=$(printf '%s' "$1" | openssl dgst -sha1 -binary | openssl dgst -sha1 -r)
    h=${h%% *}
    printf '*%s' "${h^^}"
}

# The SQL that makes root@127.0.0.1 (all privileges, for tests that need SUPER), lets root
# log in with the password besides unix_socket, and creates the database dbmgmt_test and
# its user, which may also create dbmgmt_* databases. From password hashes, so that no
# password is in the SQL the server sees (performance_schema, binary logs and Galera's
# write-set cache keep statement texts).
my_users_sql() {   # root-hash app-hash
    cat <<EOF
ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING '$1';
CREATE USER root@'127.0.0.1' IDENTIFIED BY PASSWORD '$1';
GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE dbmgmt_test;
CREATE USER dbmgmt_test@'127.0.0.1' IDENTIFIED BY PASSWORD '$2';
CREATE USER dbmgmt_test@localhost IDENTIFIED BY PASSWORD '$2';
GRANT ALL PRIVILEGES ON dbmgmt_test.* TO dbmgmt_test@'127.0.0.1', dbmgmt_test@localhost;
GRANT ALL PRIVILEGES ON \`dbmgmt\_%\`.* TO dbmgmt_test@'127.0.0.1', dbmgmt_test@localhost;
EOF
}

# ---------------------------------------------------------------------------------------
# Sub-commands shared by the three scripts
# ---------------------------------------------------------------------------------------
teardown() {   # stop what this run started, delete the folder
    [[ -n $STATE_DIR && -f $STATE_DIR/$MARKER ]] || return 0
    local t0
    t0=$(now_us)
    policy_rc_d_restore
    stop_all
    rm -rf "$STATE_DIR"
    log "$WHAT stopped and $STATE_DIR removed in $(seconds_since "$t0") s"
    STATE_DIR=''
}

CHILD=''

on_signal() {   # signal number: stop CMD, then exit (the EXIT trap tears down)
    trap '' INT TERM
    if [[ -n $CHILD ]]; then
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    exit $((128 + $1))
}

cmd_run() {   # [--] CMD ARGS...
    [[ ${1-} == -- ]] && shift
    (($#)) || usage
    trap 'teardown' EXIT
    trap 'on_signal 2' INT
    trap 'on_signal 15' TERM
    bring_up
    set_vars
    local v rc=0
    for v in "${VARS[@]}"; do [[ -v $v ]] && export "${v?}"; done
    # In the background so a signal to this script is handled at once; `<&0` keeps the
    # caller's stdin (a background job would otherwise get /dev/null), when there is one
    # (CI may start us with stdin closed).
    if { true <&0; } 2>/dev/null; then
        "$@" <&0 >&3 3>&- &
    else
        "$@" </dev/null >&3 3>&- &
    fi
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=''
    exit "$rc"
}

cmd_start() {
    trap 'teardown' EXIT           # only if start-up fails
    trap 'exit 130' INT
    trap 'exit 143' TERM
    bring_up
    if declare -F exit_unless_up >/dev/null; then exit_unless_up; fi
    trap - EXIT INT TERM
    set_vars
    local v
    for v in "${VARS[@]}"; do
        [[ -v $v ]] && printf 'export %s=%q\n' "$v" "${!v}" >&3
    done
    log "stop with: bash $HARNESS_SCRIPT stop"
}

cmd_stop() {
    load_state
    teardown
}

main() {   # run, start, stop here; any other command: the script's script_command
    local cmd=${1-}
    (($#)) && shift
    case $cmd in
    run) cmd_run "$@" ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    *) script_command "$cmd" "$@" ;;
    esac
}

cmd_install() {   # the packages only
    [[ $EUID -eq 0 ]] || die "run as root"
    make_state_dir
    trap 'teardown' EXIT
    install_packages || { show_log_tails "$APT_LOG"; die "could not install ${PKGS[*]}"; }
    if declare -F tools_present >/dev/null; then
        tools_present || die "tools are missing after the install"
    fi
}
