#!/usr/bin/env bash
# Portcullis vs Postfix, side by side: the one entry command.
#
#   bench/run.sh            full run (3 runs per scenario; 10-20 min on 2 cores)
#   bench/run.sh --quick    tiny sizes, one run: checks the harness works
#   bench/run.sh --help     every option (message count, sessions, size, ...)
#   bench/run.sh --mail-auth   Portcullis alone: inbound SPF/DKIM/DMARC checks
#                           on vs off, DKIM signing vs none (bench/results-mail-auth.md)
#   bench/run.sh --journaled-fs   run on a fresh journaled ext4 (a loop-mounted
#                           image) instead of the scratch dir's own file system
#   bench/run.sh --peers postfix,opensmtpd,exim,chasquid
#                           compare with these servers (default: postfix alone)
#   bench/run.sh --only accept-pg,console   Portcullis alone: the directory in
#                           files vs PostgreSQL; the admin console under a large site
#
# On a fresh Debian machine it installs what it needs (Postfix, which ships
# smtp-source and smtp-sink; python3), builds Portcullis in release mode,
# then runs bench/harness.py, which prints one table and writes
# bench/results.md. Postfix runs as a private instance (its own config,
# queue and data directories under a scratch dir, loopback ports only); the
# system instance is never configured, started or touched. Needs root (to
# install packages, and because Postfix's local delivery runs as a system
# user the harness creates and removes).
#
# OpenSMTPD, Exim and chasquid (+ maildrop) conflict with Postfix as Debian
# packages, so they are never installed: `apt-get download` + `dpkg-deb -x`
# unpack them into a cache dir (BENCH_PEERS_CACHE, default
# /var/tmp/portcullis-bench-peers), from where the harness runs private
# instances; only their shared libraries are installed as packages.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

for arg in "$@"; do
    if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
        exec python3 "$here/harness.py" --work /nonexistent --help
    fi
done

if [ "$(id -u)" != 0 ]; then
    echo "bench/run.sh must run as root (it installs packages and starts a private Postfix)" >&2
    exit 2
fi

quick=0
mailauth=0
journaled=0
profile=0
args=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1; args+=("$arg") ;;
        --profile) profile=1; args+=("$arg") ;;
        --mail-auth) mailauth=1; args+=("$arg") ;;
        --journaled-fs) journaled=1 ;;
        *) args+=("$arg") ;;
    esac
done
peers=postfix
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --peers=*) peers="${args[$i]#--peers=}" ;;
        --peers) peers="${args[$((i + 1))]:-}" ;;
    esac
done

export PATH="$PATH:/usr/sbin:/sbin"
need_apt=()
command -v postfix >/dev/null && [ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/smtp-sink ] || need_apt+=(postfix)
command -v python3 >/dev/null || need_apt+=(python3)
command -v findmnt >/dev/null || need_apt+=(util-linux)
command -v mkfs.ext4 >/dev/null || need_apt+=(e2fsprogs)
command -v strace >/dev/null || need_apt+=(strace)
command -v openssl >/dev/null || need_apt+=(openssl)
if [ "$profile" = 1 ]; then command -v perf >/dev/null || need_apt+=(linux-perf); fi
# accept-pg runs a private PostgreSQL cluster (never the system instance).
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --only=*) only="${args[$i]#--only=}" ;;
        --only) only="${args[$((i + 1))]:-}" ;;
    esac
done
if [[ ",${only:-}," == *,accept-pg,* ]] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing ${need_apt[*]} ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    # "No configuration": the package installs without a system instance
    # configuration, so nothing starts it; the harness runs its own.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# The peers' packages, unpacked side by side (they conflict as packages).
peer_debs=()
case ",$peers," in *,opensmtpd,*) peer_debs+=(opensmtpd) ;; esac
case ",$peers," in *,exim,*) peer_debs+=(exim4-daemon-light exim4-base) ;; esac
case ",$peers," in *,chasquid,*) peer_debs+=(chasquid maildrop) ;; esac
if [ ${#peer_debs[@]} -gt 0 ]; then
    need_apt=()
    cache="${BENCH_PEERS_CACHE:-/var/tmp/portcullis-bench-peers}"
    mkdir -p "$cache/debs"
    chmod 755 "$cache"
    export BENCH_PEERS_ROOT="$cache/root"
    missing=()
    for p in "${peer_debs[@]}"; do
        ls "$cache/debs/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "downloading ${missing[*]} (unpacked, not installed) ..." >&2
        apt-get update -qq
        (cd "$cache/debs" && apt-get download -qq "${missing[@]}")
    fi
    libs=()
    for p in "${peer_debs[@]}"; do
        deb="$(ls "$cache/debs/${p}_"*.deb | tail -1)"
        dpkg-deb -x "$deb" "$BENCH_PEERS_ROOT"
        echo "$p $(dpkg-deb -f "$deb" Version)" >>"$cache/versions.new"
        # Their libraries (never another MTA): what Depends names, minus the
        # packages that are themselves MTA parts, debconf or system tools.
        for dep in $(dpkg-deb -f "$deb" Depends | tr ',|' '\n\n' | sed 's/(.*)//; s/ //g'); do
            case "$dep" in
                lib*|courier-authlib) dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'ok installed' ||
                    libs+=("$dep") ;;
            esac
        done
    done
    mv "$cache/versions.new" "$BENCH_PEERS_ROOT/versions.txt"
    need_apt+=("${libs[@]}")
    if [ ${#need_apt[@]} -gt 0 ]; then
        echo "installing ${need_apt[*]} ..." >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    fi
fi

echo "building Portcullis (cargo build --release) ..." >&2
(cd "$repo" && cargo build --release --quiet)
only_lookup=1
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --only=*) [[ ",${args[$i]#--only=}," == *,lookup,* ]] || only_lookup=0 ;;
        --only) [[ ",${args[$((i + 1))]:-}," == *,lookup,* ]] || only_lookup=0 ;;
    esac
done
if [ "$quick" = 0 ] && [ "$mailauth" = 0 ] && [ "$only_lookup" = 1 ]; then
    # Build the criterion bench now, so its compile time does not land in a measurement.
    (cd "$repo" && cargo bench -p portcullis-relay --bench relay_lookup --no-run --quiet)
fi

# Up to 10,000 idle sessions: the client and the server each need a descriptor per session.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Scratch space on a disk-backed file system (/tmp may be tmpfs, where fsync is free).
work="$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/portcullis-bench.XXXXXX")"
# Postfix's local(8) runs as the benchmark user and must reach its home below here.
chmod 755 "$work"
scratch="$work"

cleanup() {
    # Whatever the harness left running (it stops everything itself unless killed).
    if [ -f "$scratch/postfix/spool/pid/master.pid" ]; then
        postfix -c "$scratch/postfix/etc" stop >/dev/null 2>&1 || true
    fi
    if [ -f "$scratch/pids" ]; then
        while read -r pid; do
            if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE 'smtp-sink|portcullis serve|^unshare '; then
                # A peer's namespace dies with its init, unshare's one child.
                for child in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do kill -9 "$child" 2>/dev/null || true; done
                kill "$pid" 2>/dev/null || true
            fi
        done <"$scratch/pids"
    fi
    # The accept-pg scenario's private PostgreSQL cluster, if the harness did not stop it.
    if [ -f "$scratch/postgres/data/postmaster.pid" ]; then
        pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
        runuser -u postgres -- "$pgbin/pg_ctl" -D "$scratch/postgres/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ "$scratch" != "$work" ] && mountpoint -q "$scratch"; then
        sleep 1
        umount "$scratch" || umount -l "$scratch" || true
    fi
    getent passwd | awk -F: '$5 == "Portcullis benchmark (bench/run.sh)" {print $1}' |
        while read -r user; do userdel "$user" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

if [ "$journaled" = 1 ]; then
    # A fresh ext4 with its default journal (data=ordered), as most mail
    # servers have; on a loop device, so fsync still reaches the disk.
    # Inode tables and journal are initialised now, not lazily during a run.
    img="$work/fs.img"
    truncate -s 8G "$img"
    mkfs.ext4 -q -F -i 8192 -E lazy_itable_init=0,lazy_journal_init=0 "$img"
    scratch="$work/fs"
    mkdir "$scratch"
    mount -o loop "$img" "$scratch"
    chmod 755 "$scratch"
fi

python3 "$here/harness.py" --work "$scratch" ${args[@]+"${args[@]}"}
