#!/usr/bin/env bash
# Portcullis vs Postfix, side by side: the one entry command.
#
#   bench/run.sh            full run (3 runs per scenario; ~15 min on 2 cores)
#   bench/run.sh --quick    tiny sizes, one run: checks the harness works
#   bench/run.sh --help     every option (message count, sessions, size, ...)
#
# On a fresh Debian machine it installs what it needs (Postfix, which ships
# smtp-source and smtp-sink; python3), builds Portcullis in release mode,
# then runs bench/harness.py, which prints one table and writes
# bench/results.md. Postfix runs as a private instance (its own config,
# queue and data directories under a scratch dir, loopback ports only); the
# system instance is never configured, started or touched. Needs root (to
# install packages, and because Postfix's local delivery runs as a system
# user the harness creates and removes).
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

need_apt=()
command -v postfix >/dev/null && [ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/smtp-sink ] || need_apt+=(postfix)
command -v python3 >/dev/null || need_apt+=(python3)
command -v findmnt >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing ${need_apt[*]} ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    # "No configuration": the package installs without a system instance
    # configuration, so nothing starts it; the harness runs its own.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

quick=0
for arg in "$@"; do [ "$arg" = "--quick" ] && quick=1; done

echo "building Portcullis (cargo build --release) ..." >&2
(cd "$repo" && cargo build --release --quiet)
if [ "$quick" = 0 ]; then
    # Build the criterion bench now, so its compile time does not land in a measurement.
    (cd "$repo" && cargo bench -p portcullis-core --bench relay_lookup --no-run --quiet)
fi

# Up to 10,000 idle sessions: the client and the server each need a descriptor per session.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Scratch space on a disk-backed file system (/tmp may be tmpfs, where fsync is free).
work="$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/portcullis-bench.XXXXXX")"
# Postfix's local(8) runs as the benchmark user and must reach its home below here.
chmod 755 "$work"

cleanup() {
    # Whatever the harness left running (it stops everything itself unless killed).
    if [ -f "$work/postfix/spool/pid/master.pid" ]; then
        postfix -c "$work/postfix/etc" stop >/dev/null 2>&1 || true
    fi
    if [ -f "$work/pids" ]; then
        while read -r pid; do
            if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE 'smtp-sink|portcullis serve'; then
                kill "$pid" 2>/dev/null || true
            fi
        done <"$work/pids"
    fi
    getent passwd | awk -F: '$5 == "Portcullis benchmark (bench/run.sh)" {print $1}' |
        while read -r user; do userdel "$user" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

cd "$here"
python3 "$here/harness.py" --work "$work" "$@"
