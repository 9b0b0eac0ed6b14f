#!/bin/sh
# Load test: thousands of idle control connections against a real kftpd while a normal
# session logs in and transfers; prints server RSS before/after and per idle session.
#
#   ci/load.sh                    # 5000 sessions
#   LOAD_SESSIONS=10000 ci/load.sh
#
# The client raises its own RLIMIT_NOFILE soft limit to the hard limit (kftpd does the
# same at start); with a hard limit below the session count the test uses what it can.
set -eu
cd "$(dirname "$0")/.."
export LOAD_SESSIONS="${LOAD_SESSIONS:-5000}"
exec cargo test -p kftpd --test it abuse::load_many_sessions -- --ignored --nocapture
