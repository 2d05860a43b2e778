#!/usr/bin/env bash
# Local real services for development and tests: PostgreSQL 15, MariaDB and a
# single-node Trino coordinator, each on a private port bound to 127.0.0.1,
# with private data dirs, logs and pid files.
#
#   services.sh up|down|restart|status|fetch [postgres|mariadb|trino ...]
#
# Default: all three services. See deploy/local/README.md for the variables.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

STATE=${SHUQIAO_STATE:-$REPO/.cache/services}
CACHE=${SHUQIAO_CACHE:-$REPO/.cache}

PG_PORT=${SHUQIAO_PG_PORT:-55432}
MARIADB_PORT=${SHUQIAO_MARIADB_PORT:-53306}
TRINO_PORT=${SHUQIAO_TRINO_PORT:-58080}

PG_BIN=${SHUQIAO_PG_BIN:-/usr/lib/postgresql/15/bin}
TRINO_VERSION=${SHUQIAO_TRINO_VERSION:-476}
# geospatial provides the Geometry type that the postgresql connector needs.
TRINO_PLUGINS=${SHUQIAO_TRINO_PLUGINS:-postgresql mysql mariadb memory opa geospatial}
TRINO_PLUGINS=${TRINO_PLUGINS//,/ }
TRINO_JAVA_HOME=${SHUQIAO_TRINO_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
TRINO_HEAP=${SHUQIAO_TRINO_HEAP:-3G}
TRINO_CATALOGS=${SHUQIAO_TRINO_CATALOGS:-$STATE/trino-catalogs}
TRINO_ETC_EXTRA=${SHUQIAO_TRINO_ETC_EXTRA:-}
TIMEOUT=${SHUQIAO_SERVICES_TIMEOUT:-180}

DB_USER=shuqiao
DB_PASSWORD=shuqiao
MVN_DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

ALL_SERVICES=(postgres mariadb trino)
RUN="$STATE/run"
LOGS="$STATE/logs"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

is_root() { [[ $EUID -eq 0 ]]; }

# Run a command as a service's OS user when we are root, else as ourselves.
as_user() {
    local user=$1; shift
    if is_root; then runuser -u "$user" -- "$@"; else "$@"; fi
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive PIDFILE WORD: the pid in PIDFILE is alive and its command line has WORD.
pid_alive() {
    local file=$1 word=$2 pid
    [[ -s $file ]] || return 1
    pid=$(head -n1 "$file" | tr -dc '0-9')
    [[ -n $pid ]] && running_pid "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$word"
}

read_pid() { head -n1 "$1" 2>/dev/null | tr -dc '0-9'; }

# True while PID runs; an exited process not yet reaped (a zombie) counts as gone.
running_pid() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# wait_gone PID SECONDS: wait for a process to exit; SIGKILL after the deadline.
wait_gone() {
    local pid=$1 limit=$2 i
    for ((i = 0; i < limit * 10; i++)); do
        running_pid "$pid" || return 0
        sleep 0.1
    done
    log "pid $pid still alive after ${limit}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
}

check_port_free() {
    local name=$1 port=$2 var=$3
    if port_open "$port"; then
        die "$name: port $port on 127.0.0.1 is already in use by another process" \
            "(not one started from $STATE); free it or set $var to another port"
    fi
}

tail_log() {
    local file=$1
    if [[ -f $file ]]; then
        log "last lines of $file:"
        tail -n 30 "$file" >&2 || true
    fi
}

# apt_install PKG...: install Debian packages without letting their maintainer
# scripts start system services (which would hold the default ports).
apt_install() {
    is_root || die "packages missing: $*; install them with: sudo apt-get install -y $*"
    command -v apt-get >/dev/null || die "packages missing: $* (and no apt-get on this machine)"
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# temporary: keep package installs from starting services\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        own_policy=1
    fi
    local rc=0 start
    start=$(now)
    log "installing $* with apt-get (apt-get update first)"
    {
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
                --no-install-recommends "$@"
    } >"$LOGS/apt.log" 2>&1 || rc=$?
    if ((own_policy)); then rm -f "$policy"; fi
    if ((rc != 0)); then
        tail_log "$LOGS/apt.log"
        die "apt-get install $* failed (exit $rc); full output in $LOGS/apt.log"
    fi
    log "installed $* in $(elapsed "$start")s"
}

# svc_home NAME OWNER: the directory holding a service's data, run and log
# files, writable by OWNER. Normally $STATE/NAME. When we are root and OWNER
# cannot reach $STATE (a parent directory is not searchable by others, as in
# a checkout under a private home), the files go under /var/lib/shuqiao
# instead and $STATE/NAME becomes a symlink to them.
svc_home() {
    local name=$1 owner=$2 dir="$STATE/$1"
    if [[ -L $dir ]]; then
        readlink -f "$dir"
        return
    fi
    mkdir -p "$dir"
    if ! is_root; then
        echo "$dir"
        return
    fi
    chown "$owner:" "$dir"
    if runuser -u "$owner" -- test -w "$dir" -a -x "$dir"; then
        echo "$dir"
        return
    fi
    local key alt
    key=$(printf '%s' "$STATE" | cksum | cut -d' ' -f1)
    alt="/var/lib/shuqiao/$key/$name"
    rmdir "$dir" 2>/dev/null ||
        die "$name: user $owner cannot reach $dir and it is not empty; move $STATE" \
            "somewhere readable by $owner (set SHUQIAO_STATE)"
    mkdir -p "$alt"
    chmod 755 /var/lib/shuqiao "/var/lib/shuqiao/$key"
    chown "$owner:" "$alt"
    ln -s "$alt" "$dir"
    log "$name: $owner cannot reach $STATE; using $alt (linked from $dir)"
    echo "$alt"
}

# sock_dir HOME OWNER: directory for a server's Unix socket. Socket paths are
# limited to about 107 bytes, so a deep checkout gets a short one under /tmp.
sock_dir() {
    local home=$1 owner=$2 dir="$1/run"
    if ((${#dir} > 80)); then
        dir="/tmp/shuqiao-sock-$(printf '%s' "$home" | cksum | cut -d' ' -f1)"
    fi
    as_user "$owner" mkdir -p "$dir"
    echo "$dir"
}

# ---------------------------------------------------------------- PostgreSQL

pg_pidfile="$RUN/postgres.pid"

pg_running() { pid_alive "$pg_pidfile" postgres; }

pg_ensure_installed() {
    [[ -x $PG_BIN/initdb ]] && return
    apt_install postgresql-15
    [[ -x $PG_BIN/initdb ]] || die "postgres: $PG_BIN/initdb still missing after installing postgresql-15"
}

pg_up() {
    local home data port_file="$RUN/postgres.port"
    if pg_running; then
        if [[ $(cat "$port_file" 2>/dev/null) == "$PG_PORT" ]]; then
            log "postgres: already running (pid $(read_pid "$pg_pidfile"), port $PG_PORT)"
            return
        fi
        log "postgres: running on another port; restarting on $PG_PORT"
        pg_down
    fi
    pg_ensure_installed
    local start
    start=$(now)
    is_root && { id postgres >/dev/null 2>&1 || die "postgres: OS user 'postgres' missing (reinstall postgresql-15)"; }
    home=$(svc_home postgres postgres)
    data="$home/data"
    if [[ ! -s $data/PG_VERSION ]]; then
        log "postgres: initdb in $data"
        rm -rf "$data"
        as_user postgres mkdir -p "$data"
        local pw="$home/.pwfile"
        printf '%s\n' "$DB_PASSWORD" >"$pw"
        is_root && chown postgres: "$pw"
        chmod 600 "$pw"
        if ! as_user postgres "$PG_BIN/initdb" -D "$data" -U "$DB_USER" --pwfile="$pw" \
            --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 \
            >"$home/initdb.log" 2>&1; then
            rm -f "$pw"
            tail_log "$home/initdb.log"
            die "postgres: initdb failed"
        fi
        rm -f "$pw"
        echo "include_if_exists = 'shuqiao.conf'" | as_user postgres tee -a "$data/postgresql.conf" >/dev/null
    fi
    local sock
    sock=$(sock_dir "$home" postgres)
    # Rewritten at every start so that the port and paths follow the environment.
    as_user postgres tee "$data/shuqiao.conf" >/dev/null <<EOF
# Written by deploy/local/services.sh at each start; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sock'
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = 256MB
password_encryption = scram-sha-256
# Disposable development data: trade durability for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    # After a crash postgres may refuse to start while the dead postmaster's
    # pid is still taken (e.g. by a zombie): once no process works in the data
    # dir any more, its lock file is stale and can go.
    if [[ -f $data/postmaster.pid ]] && ! pid_alive "$data/postmaster.pid" postgres; then
        local i p busy
        for ((i = 0; i < 100; i++)); do
            busy=0
            for p in /proc/[0-9]*; do
                [[ $(readlink "$p/cwd" 2>/dev/null) == "$data" ]] && { busy=1; break; }
            done
            ((busy)) || break
            sleep 0.2
        done
        ((busy)) && die "postgres: processes of a crashed server still use $data; stop them first"
        log "postgres: removing the stale lock files left by an unclean stop"
        rm -f "$data/postmaster.pid"
    fi
    local socklock="$sock/.s.PGSQL.$PG_PORT.lock"
    if [[ -f $socklock ]] && ! pid_alive "$socklock" postgres; then
        rm -f "$socklock" "$sock/.s.PGSQL.$PG_PORT"
    fi
    check_port_free postgres "$PG_PORT" SHUQIAO_PG_PORT
    if ! as_user postgres "$PG_BIN/pg_ctl" -D "$data" -l "$home/postgres.log" -w -t "$TIMEOUT" \
        -s start >/dev/null 2>&1 9>&-; then
        tail_log "$home/postgres.log"
        die "postgres: failed to start (log: $home/postgres.log)"
    fi
    head -n1 "$data/postmaster.pid" >"$pg_pidfile"
    echo "$PG_PORT" >"$port_file"
    local i
    for ((i = 0; i < TIMEOUT * 5; i++)); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" && break
        sleep 0.2
    done
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" ||
        { tail_log "$home/postgres.log"; die "postgres: not accepting TCP connections on $PG_PORT"; }
    # A database named after the user, for clients that default to it.
    local psql=("$PG_BIN/psql" -X -q -At -h "$sock" -p "$PG_PORT" -U "$DB_USER" -d postgres)
    if [[ -z $(as_user postgres "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DB_USER'") ]]; then
        as_user postgres "${psql[@]}" -c "CREATE DATABASE $DB_USER" >/dev/null
    fi
    log "postgres: up on 127.0.0.1:$PG_PORT (pid $(read_pid "$pg_pidfile")) in $(elapsed "$start")s"
}

pg_down() {
    if ! pg_running; then
        log "postgres: not running"
        rm -f "$pg_pidfile"
        return
    fi
    local pid home
    pid=$(read_pid "$pg_pidfile")
    home=$(readlink -f "$STATE/postgres")
    as_user postgres "$PG_BIN/pg_ctl" -D "$home/data" -m fast -w -t 60 -s stop >/dev/null 2>&1 ||
        kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 60
    rm -f "$pg_pidfile"
    log "postgres: stopped"
}

pg_status() {
    if pg_running; then
        printf '%-9s running  pid=%s port=%s data=%s\n' postgres "$(read_pid "$pg_pidfile")" \
            "$(cat "$RUN/postgres.port" 2>/dev/null)" "$(readlink -f "$STATE/postgres")/data"
    else
        printf '%-9s stopped\n' postgres
        return 1
    fi
}

# ------------------------------------------------------------------- MariaDB

mdb_pidfile="$RUN/mariadb.pid"

mdb_running() { pid_alive "$mdb_pidfile" mariadbd; }

mdb_ensure_installed() {
    if command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]]; then
        command -v mariadb-install-db >/dev/null && return
    fi
    apt_install mariadb-server mariadb-client
    # Belt and braces: if the package still managed to start its own service
    # (on the default port 3306), stop and disable it.
    if command -v systemctl >/dev/null && systemctl is-active --quiet mariadb 2>/dev/null; then
        log "mariadb: stopping and disabling the system service the package started"
        systemctl stop mariadb || true
        systemctl disable mariadb >/dev/null 2>&1 || true
    elif [[ -x /etc/init.d/mariadb ]] && /etc/init.d/mariadb status >/dev/null 2>&1; then
        log "mariadb: stopping the system service the package started"
        /etc/init.d/mariadb stop >/dev/null 2>&1 || true
    fi
    [[ -x /usr/sbin/mariadbd ]] || die "mariadb: mariadbd still missing after installing mariadb-server"
}

mdb_up() {
    local home port_file="$RUN/mariadb.port"
    if mdb_running; then
        if [[ $(cat "$port_file" 2>/dev/null) == "$MARIADB_PORT" ]]; then
            log "mariadb: already running (pid $(read_pid "$mdb_pidfile"), port $MARIADB_PORT)"
            return
        fi
        log "mariadb: running on another port; restarting on $MARIADB_PORT"
        mdb_down
    fi
    mdb_ensure_installed
    local start owner
    start=$(now)
    owner=$(id -un)
    if is_root; then
        owner=mysql
        id mysql >/dev/null 2>&1 || die "mariadb: OS user 'mysql' missing (reinstall mariadb-server)"
    fi
    home=$(svc_home mariadb "$owner")
    local data="$home/data" cnf="$home/my.cnf" client="$home/client.cnf" init="$home/init.sql"
    local sock
    as_user "$owner" mkdir -p "$home/run"
    sock=$(sock_dir "$home" "$owner")
    cat >"$init" <<EOF
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS $DB_USER CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
EOF
    # Rewritten at every start so that the port and paths follow the environment.
    cat >"$cnf" <<EOF
# Written by deploy/local/services.sh at each start; edits are overwritten.
[mariadbd]
datadir = $data
socket = $sock/mariadb.sock
pid-file = $home/run/mariadbd.pid
port = $MARIADB_PORT
bind-address = 127.0.0.1
log-error = $home/mariadb.log
init-file = $init
local-infile = 1
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
max-connections = 200
innodb-buffer-pool-size = 256M
# Disposable development data: trade durability for speed.
innodb-flush-log-at-trx-commit = 2
innodb-doublewrite = 0
$(is_root && echo "user = mysql")

[client]
socket = $sock/mariadb.sock
port = $MARIADB_PORT
EOF
    cat >"$client" <<EOF
[client]
user = $DB_USER
password = $DB_PASSWORD
host = 127.0.0.1
port = $MARIADB_PORT
protocol = tcp
EOF
    chmod 644 "$cnf" "$init"
    chmod 600 "$client"
    if [[ ! -d $data/mysql ]]; then
        log "mariadb: mariadb-install-db in $data"
        rm -rf "$data"
        local user_opt=()
        is_root && user_opt=(--user=mysql)
        if ! mariadb-install-db --defaults-file="$cnf" "${user_opt[@]}" --datadir="$data" \
            --auth-root-authentication-method=socket --skip-test-db \
            >"$home/install-db.log" 2>&1; then
            tail_log "$home/install-db.log"
            die "mariadb: mariadb-install-db failed"
        fi
    fi
    check_port_free mariadb "$MARIADB_PORT" SHUQIAO_MARIADB_PORT
    rm -f "$home/run/mariadbd.pid"
    local mariadbd
    mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
    setsid "$mariadbd" --defaults-file="$cnf" </dev/null >>"$home/mariadb.log" 2>&1 9>&- &
    local pid=$!
    echo "$pid" >"$mdb_pidfile"
    echo "$MARIADB_PORT" >"$port_file"
    local i ok=0
    for ((i = 0; i < TIMEOUT * 5; i++)); do
        running_pid "$pid" || break
        if mariadb --defaults-file="$client" -N -e 'SELECT 1' >/dev/null 2>&1; then
            ok=1
            break
        fi
        sleep 0.2
    done
    if ((!ok)); then
        tail_log "$home/mariadb.log"
        running_pid "$pid" && { kill -TERM "$pid"; wait_gone "$pid" 30; }
        rm -f "$mdb_pidfile"
        die "mariadb: did not come up on 127.0.0.1:$MARIADB_PORT (log: $home/mariadb.log)"
    fi
    # setsid may have forked: record the server's own pid.
    [[ -s $home/run/mariadbd.pid ]] && read_pid "$home/run/mariadbd.pid" >"$mdb_pidfile"
    log "mariadb: up on 127.0.0.1:$MARIADB_PORT (pid $(read_pid "$mdb_pidfile")) in $(elapsed "$start")s"
}

mdb_down() {
    if ! mdb_running; then
        log "mariadb: not running"
        rm -f "$mdb_pidfile"
        return
    fi
    local pid
    pid=$(read_pid "$mdb_pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 60
    rm -f "$mdb_pidfile"
    log "mariadb: stopped"
}

mdb_status() {
    if mdb_running; then
        printf '%-9s running  pid=%s port=%s data=%s\n' mariadb "$(read_pid "$mdb_pidfile")" \
            "$(cat "$RUN/mariadb.port" 2>/dev/null)" "$(readlink -f "$STATE/mariadb")/data"
    else
        printf '%-9s stopped\n' mariadb
        return 1
    fi
}

# --------------------------------------------------------------------- Trino

trino_pidfile="$RUN/trino.pid"
TRINO_CACHE="$CACHE/trino"
TRINO_SERVER="$TRINO_CACHE/trino-server-$TRINO_VERSION"
TRINO_CLI_JAR="$TRINO_CACHE/trino-cli-$TRINO_VERSION-executable.jar"
TRINO_JDBC_JAR="$TRINO_CACHE/trino-jdbc-$TRINO_VERSION.jar"

trino_running() { pid_alive "$trino_pidfile" java; }

mvn_copy() {
    local artifact=$1
    log "trino: mvn dependency:copy $artifact"
    if ! mvn -B -ntp -Dstyle.color=never "$MVN_DEP_PLUGIN:copy" -Dartifact="$artifact" \
        -DoutputDirectory="$TRINO_CACHE" >"$LOGS/mvn.log" 2>&1; then
        grep -E '^\[ERROR\]' "$LOGS/mvn.log" | head -n 5 >&2 || true
        die "trino: could not fetch $artifact with Maven (full output: $LOGS/mvn.log)"
    fi
}

trino_server_unpacked() {
    [[ -f $TRINO_SERVER/.complete && $(cat "$TRINO_SERVER/.complete") == "$TRINO_VERSION:$TRINO_PLUGINS" ]]
}

# The server tarball is published to Maven Central only up to 476; from 477 on
# the server, CLI and plugin archives are released elsewhere. The full
# tarball carries every plugin; only those in $TRINO_PLUGINS are unpacked,
# which keeps the unpacked tree small and the coordinator's startup short.
trino_fetch() {
    command -v mvn >/dev/null || apt_install maven
    mkdir -p "$TRINO_CACHE" "$LOGS"
    if ! trino_server_unpacked; then
        local start tarball="$TRINO_CACHE/trino-server-$TRINO_VERSION.tar.gz"
        start=$(now)
        mvn_copy "io.trino:trino-server:$TRINO_VERSION:tar.gz"
        log "trino: unpacking server with plugins: $TRINO_PLUGINS"
        local tmp="$TRINO_CACHE/.unpack-$$" top="trino-server-$TRINO_VERSION"
        rm -rf "$tmp" "$TRINO_SERVER"
        mkdir -p "$tmp"
        # The tarball shares jars between plugins as hard links, so it is
        # unpacked whole and the unwanted plugins are removed afterwards.
        tar -xzf "$tarball" -C "$tmp"
        local p d missing=()
        for p in $TRINO_PLUGINS; do
            [[ -d $tmp/$top/plugin/$p ]] || missing+=("$p")
        done
        if ((${#missing[@]})); then
            rm -rf "$tmp"
            die "trino: plugin(s) ${missing[*]} from SHUQIAO_TRINO_PLUGINS not in the server tarball"
        fi
        for d in "$tmp/$top/plugin"/*; do
            [[ " $TRINO_PLUGINS " == *" $(basename "$d") "* ]] || rm -rf "$d"
        done
        mv "$tmp/$top" "$TRINO_SERVER"
        rm -rf "$tmp" "$tarball"
        echo "$TRINO_VERSION:$TRINO_PLUGINS" >"$TRINO_SERVER/.complete"
        log "trino: server $TRINO_VERSION ready in $TRINO_SERVER ($(elapsed "$start")s)"
    fi
    [[ -s $TRINO_CLI_JAR ]] || mvn_copy "io.trino:trino-cli:$TRINO_VERSION:jar:executable"
    [[ -s $TRINO_JDBC_JAR ]] || mvn_copy "io.trino:trino-jdbc:$TRINO_VERSION:jar"
}

trino_check_java() {
    local java="$TRINO_JAVA_HOME/bin/java" major
    [[ -x $java ]] || die "trino: no Java at $TRINO_JAVA_HOME; Trino $TRINO_VERSION needs Java 24 or" \
        "newer (set SHUQIAO_TRINO_JAVA_HOME)"
    major=$("$java" -XshowSettings:properties -version 2>&1 |
        awk -F'= ' '/java.specification.version/ { print $2 }')
    [[ ${major%%.*} -ge 24 ]] 2>/dev/null ||
        die "trino: $java is Java $major; Trino $TRINO_VERSION needs Java 24 or newer"
}

# Render etc/ into $1.
trino_render_etc() {
    local etc=$1 home="$STATE/trino"
    rm -rf "$etc"
    mkdir -p "$etc/catalog"
    cat >"$etc/node.properties" <<EOF
node.environment=shuqiao
node.id=shuqiao-local-coordinator
node.data-dir=$home/data
node.internal-address=127.0.0.1
node.bind-ip=127.0.0.1
EOF
    cat >"$etc/jvm.config" <<EOF
-server
-Xmx$TRINO_HEAP
-XX:+UseG1GC
-XX:G1HeapRegionSize=32M
-XX:+ExplicitGCInvokesConcurrent
-XX:+ExitOnOutOfMemoryError
-XX:-OmitStackTraceInFastThrow
-XX:ReservedCodeCacheSize=256M
-XX:PerMethodRecompilationCutoff=10000
-XX:PerBytecodeRecompilationCutoff=10000
-Djdk.attach.allowAttachSelf=true
-Djdk.nio.maxCachedBufferSize=2000000
-Dfile.encoding=UTF-8
-XX:+EnableDynamicAgentLoading
-XX:+UnlockDiagnosticVMOptions
-XX:G1NumCollectionsKeepPinned=10000000
-Djava.io.tmpdir=$home/tmp
--enable-native-access=ALL-UNNAMED
--sun-misc-unsafe-memory-access=allow
EOF
    cat >"$etc/config.properties" <<EOF
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$TRINO_PORT
discovery.uri=http://127.0.0.1:$TRINO_PORT
plugin.dir=$TRINO_SERVER/plugin
query.max-memory=1GB
query.max-memory-per-node=1GB
http-server.log.enabled=false
log.max-total-size=200MB
shutdown.grace-period=1s
EOF
    cat >"$etc/log.properties" <<EOF
io.trino=INFO
io.airlift=WARN
EOF
    if [[ -d $TRINO_CATALOGS ]]; then
        local f
        for f in "$TRINO_CATALOGS"/*.properties; do
            [[ -e $f ]] && cp "$f" "$etc/catalog/"
        done
    fi
    if [[ -n $TRINO_ETC_EXTRA ]]; then
        [[ -d $TRINO_ETC_EXTRA ]] || die "trino: SHUQIAO_TRINO_ETC_EXTRA=$TRINO_ETC_EXTRA is not a directory"
        local f base
        for f in "$TRINO_ETC_EXTRA"/*; do
            [[ -f $f ]] || continue
            base=$(basename "$f")
            if [[ $base == config.properties ]]; then
                cat "$f" >>"$etc/config.properties"
            else
                cp "$f" "$etc/$base"
            fi
        done
    fi
    echo "$TRINO_VERSION $TRINO_PLUGINS $TRINO_JAVA_HOME" >"$etc/.signature"
}

# Poll until the coordinator has started, answers SELECT 1, and has nodes for its catalogs
# (right after a start, connector catalogs can answer NO_NODES_AVAILABLE for a while).
trino_wait_ready() {
    local pid=$1
    python3 - "$TRINO_PORT" "$pid" "$TIMEOUT" "$STATE/trino/etc/catalog" <<'EOF'
import json, os, sys, time, urllib.request

port, pid, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
catalogs = sorted(f[:-11] for f in os.listdir(sys.argv[4]) if f.endswith(".properties")) \
    if os.path.isdir(sys.argv[4]) else []
base = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + timeout
last = "no answer"

def alive():  # an exited, unreaped process (state Z) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False

def call(req):
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)

class NoNodes(Exception):
    pass

def run(sql):
    req = urllib.request.Request(
        f"{base}/v1/statement", data=sql.encode(), method="POST",
        headers={"X-Trino-User": "shuqiao", "Content-Type": "text/plain"})
    doc, rows = call(req), []
    while True:
        if "error" in doc:
            if doc["error"].get("errorName") == "NO_NODES_AVAILABLE":
                raise NoNodes(sql)
            raise RuntimeError(doc["error"].get("message", "query failed"))
        rows += doc.get("data") or []
        nxt = doc.get("nextUri")
        if not nxt:
            return rows
        doc = call(urllib.request.Request(nxt, headers={"X-Trino-User": "shuqiao"}))

while time.monotonic() < deadline:
    if not alive():
        print(f"coordinator exited ({last})", file=sys.stderr)
        sys.exit(2)
    try:
        info = call(urllib.request.Request(f"{base}/v1/info"))
        if info.get("starting") is False:
            rows = run("SELECT 1")
            if rows == [[1]]:
                for catalog in catalogs:
                    try:
                        run(f'SHOW SCHEMAS FROM "{catalog}"')
                    except RuntimeError:
                        pass  # the source itself may be down; Trino is ready for it
                sys.exit(0)
            last = f"SELECT 1 returned {rows!r}"
        else:
            last = "starting"
    except NoNodes as e:
        last = f"no nodes yet for {e}"
    except Exception as e:  # still coming up
        last = str(e)
    time.sleep(0.5)
print(f"timed out after {timeout:.0f}s ({last})", file=sys.stderr)
sys.exit(1)
EOF
}

trino_launcher() {
    local home="$STATE/trino"
    JAVA_HOME=$TRINO_JAVA_HOME PATH="$TRINO_JAVA_HOME/bin:$PATH" \
        "$TRINO_SERVER/bin/launcher" \
        --etc-dir="$home/etc" --data-dir="$home/data" --pid-file="$trino_pidfile" \
        --launcher-log-file="$LOGS/trino-launcher.log" --server-log-file="$LOGS/trino.log" "$@"
}

trino_up() {
    local home="$STATE/trino"
    if trino_running && ! trino_server_unpacked; then
        log "trino: the plugin selection changed; stopping before unpacking again"
        trino_down
    fi
    trino_fetch
    mkdir -p "$home/data" "$home/tmp"
    trino_render_etc "$home/etc.new"
    if trino_running; then
        if diff -rq "$home/etc" "$home/etc.new" >/dev/null 2>&1; then
            rm -rf "$home/etc.new"
            log "trino: already running (pid $(read_pid "$trino_pidfile"), port $TRINO_PORT)"
            return
        fi
        log "trino: configuration or catalogs changed; restarting"
        trino_down
    fi
    rm -rf "${home:?}/etc"
    mv "$home/etc.new" "$home/etc"
    trino_check_java
    check_port_free trino "$TRINO_PORT" SHUQIAO_TRINO_PORT
    local start pid
    start=$(now)
    rm -f "$trino_pidfile"
    : >"$LOGS/trino-launcher.log"
    if ! trino_launcher start >"$LOGS/trino-start.out" 2>&1 9>&-; then
        cat "$LOGS/trino-start.out" >&2
        tail_log "$LOGS/trino.log"
        die "trino: launcher start failed"
    fi
    pid=$(read_pid "$trino_pidfile")
    [[ -n $pid ]] || die "trino: launcher wrote no pid file"
    if ! trino_wait_ready "$pid"; then
        tail_log "$LOGS/trino.log"
        tail_log "$LOGS/trino-launcher.log"
        trino_down || true
        die "trino: coordinator did not become ready on 127.0.0.1:$TRINO_PORT (log: $LOGS/trino.log)"
    fi
    log "trino: $TRINO_VERSION up on 127.0.0.1:$TRINO_PORT (pid $pid) in $(elapsed "$start")s"
}

trino_down() {
    if ! trino_running; then
        log "trino: not running"
        rm -f "$trino_pidfile"
        return
    fi
    local pid
    pid=$(read_pid "$trino_pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 60
    rm -f "$trino_pidfile"
    log "trino: stopped"
}

trino_status() {
    if trino_running; then
        printf '%-9s running  pid=%s port=%s version=%s etc=%s\n' trino \
            "$(read_pid "$trino_pidfile")" \
            "$(awk -F= '/^http-server.http.port=/ { print $2 }' "$STATE/trino/etc/config.properties")" \
            "$TRINO_VERSION" "$STATE/trino/etc"
    else
        printf '%-9s stopped\n' trino
        return 1
    fi
}

# ---------------------------------------------------------------------- main

usage() {
    cat >&2 <<EOF
usage: $(basename "$0") up|down|restart|status|fetch [postgres|mariadb|trino ...]
  up       start the services (default: all), installing or fetching what is missing
  down     stop what up started (data stays in place)
  restart  down, then up
  status   print each service's state; exit 1 if any is not running
  fetch    download Trino (server, CLI, JDBC) into the cache without starting it
state: $STATE   cache: $CACHE
EOF
    exit 2
}

svc_fn() {
    case $1 in
        postgres) echo pg ;;
        mariadb) echo mdb ;;
        trino) echo trino ;;
        *) die "unknown service '$1' (expected: ${ALL_SERVICES[*]})" ;;
    esac
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd=$1
    shift
    local names=("$@")
    ((${#names[@]})) || names=("${ALL_SERVICES[@]}")
    local n
    for n in "${names[@]}"; do svc_fn "$n" >/dev/null; done
    mkdir -p "$STATE" "$RUN" "$LOGS"
    case $cmd in
        status)
            local rc=0
            for n in "${names[@]}"; do "$(svc_fn "$n")_status" || rc=1; done
            return $rc
            ;;
        up | down | restart | fetch) ;;
        *) usage ;;
    esac
    # One change at a time, even from parallel test sessions. Servers are
    # started with fd 9 closed so that they do not hold the lock.
    exec 9>"$STATE/.lock"
    flock -w 900 9 || die "timed out waiting for the lock $STATE/.lock"
    case $cmd in
        up) for n in "${names[@]}"; do "$(svc_fn "$n")_up"; done ;;
        down) for n in "${names[@]}"; do "$(svc_fn "$n")_down"; done ;;
        restart)
            for n in "${names[@]}"; do "$(svc_fn "$n")_down"; done
            for n in "${names[@]}"; do "$(svc_fn "$n")_up"; done
            ;;
        fetch)
            for n in "${names[@]}"; do
                [[ $n == trino ]] && trino_fetch
            done
            ;;
    esac
}

main "$@"
