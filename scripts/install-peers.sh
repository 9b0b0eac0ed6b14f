#!/usr/bin/env bash
# Installs the peer FTP servers `kftp-bench` compares kftpd with, without letting their
# Debian packages fight: vsftpd, proftpd-basic and pure-ftpd all conflict with each other
# (each "provides ftp-server"), and the test suite needs the vsftpd package at
# /usr/sbin/vsftpd. So only the peers' shared-library dependencies go in with apt; the
# servers themselves are downloaded as .debs and unpacked (dpkg-deb -x) into a cache
# directory, where `kftp-bench` finds them:
#
#   $KFTP_PEERS_DIR (default: $XDG_CACHE_HOME/kftp-peers, else ~/.cache/kftp-peers)
#     vsftpd/usr/sbin/vsftpd
#     proftpd/usr/sbin/proftpd  (+ proftpd/usr/lib/proftpd/*.so)
#     pure-ftpd/usr/sbin/pure-ftpd
#
# Nothing is started and no system service is enabled. Idempotent. Needs root for apt.
set -euo pipefail

dest="${KFTP_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kftp-peers}"
mkdir -p "$dest"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq

# Shared libraries the unpacked binaries link against (none of these conflict with
# anything). Read the list from the packages' own Depends so a new Debian release works.
deps=()
for pkg in vsftpd proftpd-core proftpd-mod-crypto pure-ftpd; do
  while read -r d; do
    case "$d" in
      ''|debconf*|adduser|lsb-base|init-system-helpers|sysvinit-utils|proftpd-*|ucf|netbase|openssl|pure-ftpd-common|libpam-runtime|logrotate|perl) ;;
      *) deps+=("$d") ;;
    esac
  done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
             --no-replaces --no-enhances "$pkg" 2>/dev/null |
           awk '/^ *(Pre)?Depends:/ {print $2}' | grep -v '^<' | sort -u)
done
if [ ${#deps[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${deps[@]}" >/dev/null
fi

# The HPC rows (`kftp-bench --only gridftp,wan`): GridFTP's server and client, lftp for the
# small-files reference, iproute2 for the WAN emulator's namespaces and htb, ping to check
# its RTT. None of these conflicts with the FTP servers, so they are ordinary packages.
apt-get install -y -qq --no-install-recommends globus-gridftp-server-progs \
  globus-gass-copy-progs lftp iproute2 iputils-ping >/dev/null

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
chmod 755 "$work" # apt's _apt user downloads into it
# name:package[,package...]: proftpd's mod_tls lives in proftpd-mod-crypto.
for spec in vsftpd:vsftpd proftpd:proftpd-core,proftpd-mod-crypto pure-ftpd:pure-ftpd; do
  name="${spec%%:*}"; pkgs="${spec#*:}"
  if [ -x "$dest/$name/usr/sbin/$name" ] && [ -f "$dest/$name/.complete-$pkgs" ]; then
    echo "$name: already in $dest/$name"
    continue
  fi
  rm -rf "${dest:?}/$name"
  mkdir -p "$dest/$name"
  for pkg in ${pkgs//,/ }; do
    apt-get download -qq "$pkg"
    dpkg-deb -x ./"${pkg}"_*.deb "$dest/$name"
  done
  touch "$dest/$name/.complete-$pkgs"
  echo "$name: unpacked into $dest/$name"
done

for name in vsftpd proftpd pure-ftpd; do
  bin="$dest/$name/usr/sbin/$name"
  if ldd "$bin" | grep -q 'not found'; then
    echo "warning: $bin has missing libraries:" >&2
    ldd "$bin" | grep 'not found' >&2
  fi
done
echo "peers in $dest (kftp-bench looks there; or pass --peers-dir)"
