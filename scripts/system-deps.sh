#!/usr/bin/env bash
# The system packages Huddle's build and tests need, installed when missing (Debian/Ubuntu):
#   cmake, g++       llama-cpp-python builds from source
#   chromium         the studio's browser test (Playwright drives /usr/bin/chromium, never a downloaded browser)
#   redis-server     the Redis Streams bus tests start a real one on loopback
#   postgresql       the Postgres store tests start a private cluster (initdb into a temporary folder)
# As root they are installed with apt-get; otherwise it stops at once and prints the one command to run.
# Nothing to do (the usual case) costs a few command lookups.
# HUDDLE_DEPS_PRETEND_MISSING="pkg ..." and HUDDLE_DEPS_PRETEND_UID=N exist to test this script's branches.
set -euo pipefail

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
# Debian keeps initdb off PATH, in /usr/lib/postgresql/VERSION/bin
command -v initdb >/dev/null || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
for pkg in ${HUDDLE_DEPS_PRETEND_MISSING:-}; do
    missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "${HUDDLE_DEPS_PRETEND_UID:-$(id -u)}" != 0 ]; then
    echo "Huddle needs these system packages: ${missing[*]}. Install them with:" >&2
    echo "" >&2
    echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    echo "" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "Huddle needs these system packages: ${missing[*]}; install them with your system's package manager." >&2
    exit 1
fi
echo "installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
