#!/usr/bin/env bash
# Installs every program the test suite drives (cargo test --workspace), on Debian 12:
#
#   Debian packages  curl lftp vsftpd python3 rclone wget aria2 perl libio-socket-ssl-perl
#                    libcommons-net-java, passwd (useradd, chpasswd: the PAM tests create
#                    an account), libpam0g-dev and libclang-dev (building --auth pam),
#                    globus-gass-copy-progs (globus-url-copy) and
#                    globus-gridftp-server-progs (MODE E interop), iproute2 (ip, tc:
#                    kftp-bench's WAN emulator test); a JDK (default-jdk-headless) only if javac is
#                    missing and nodejs only if node is; npm and python3-pip when the
#                    project-local installs below need them
#   npm              basic-ftp  -> target/test-deps/node_modules
#   PyPI             aioftp     -> target/test-deps/python
#
# The npm and PyPI packages go under the workspace's target/test-deps, never globally; the
# tests (crates/kftpd/tests/interop) look for them there. vsftpd's package starts a system
# daemon on port 21: it is stopped, the tests start their own instances.
#
# Idempotent: what is present is left alone, and `apt-get update` runs once, only if a
# Debian package is missing. Run as root; as another user it installs nothing from Debian,
# prints the command that would, and exits non-zero when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
deps="$PWD/target/test-deps"

# Debian package -> a file that proves it is installed (dpkg -s is the check; the file
# catches a package removed by hand without purging).
declare -A probe=(
  [curl]=/usr/bin/curl
  [lftp]=/usr/bin/lftp
  [vsftpd]=/usr/sbin/vsftpd
  [python3]=/usr/bin/python3
  [rclone]=/usr/bin/rclone
  [wget]=/usr/bin/wget
  [aria2]=/usr/bin/aria2c
  [perl]=/usr/bin/perl
  [libio-socket-ssl-perl]=/usr/share/perl5/IO/Socket/SSL.pm
  [libcommons-net-java]=/usr/share/java/commons-net.jar
  [passwd]=/usr/sbin/chpasswd
  [libpam0g-dev]=/usr/include/security/pam_appl.h
  [libclang-dev]=/usr/share/doc/libclang-dev
  [globus-gass-copy-progs]=/usr/bin/globus-url-copy
  [globus-gridftp-server-progs]=/usr/sbin/globus-gridftp-server
  [iproute2]=/usr/sbin/tc
)
missing=()
for pkg in "${!probe[@]}"; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1 || [ ! -e "${probe[$pkg]}" ]; then
    missing+=("$pkg")
  fi
done
# Programs that may come from elsewhere than Debian's package of that name (a JDK, a newer
# Node.js): only their absence counts.
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
# The project-local installs need npm and pip (only when their package is not there yet).
if [ ! -f "$deps/node_modules/basic-ftp/package.json" ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi
if [ ! -d "$deps/python/aioftp" ] && ! python3 -m pip --version >/dev/null 2>&1; then
  missing+=(python3-pip)
fi

if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "run as root: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    echo "then run $0 again" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Started by its package's postinst; the tests run their own vsftpd on ephemeral ports.
if [ "$(id -u)" -eq 0 ]; then
  systemctl stop vsftpd >/dev/null 2>&1 || service vsftpd stop >/dev/null 2>&1 || true
fi

mkdir -p "$deps"
if [ -f "$deps/node_modules/basic-ftp/package.json" ]; then
  echo "basic-ftp: already in $deps/node_modules"
else
  echo "basic-ftp: installing into $deps/node_modules"
  npm install --prefix "$deps" --no-save --no-audit --no-fund --loglevel=error basic-ftp
fi
if [ -d "$deps/python/aioftp" ]; then
  echo "aioftp: already in $deps/python"
else
  echo "aioftp: installing into $deps/python"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --root-user-action=ignore \
    --target "$deps/python" aioftp
fi
