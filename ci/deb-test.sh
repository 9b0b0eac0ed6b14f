#!/usr/bin/env bash
# The Debian package end to end, on this machine (root, no systemd running):
#   build it (dist/deb.sh: reuses target/dist when up to date), dpkg -i, check what it set
#   up (user, directories, conffile, unit enabled and `systemd-analyze verify`, man pages,
#   completions, stripped binaries, --version), start /usr/sbin/kftpd as the unit's
#   ExecStart does (as kftpd with only CAP_NET_BIND_SERVICE, on a privileged loopback
#   port), add an account as the admin is told to, upload and download a file byte-exact
#   over FTPS (the packaged config requires TLS, loopback included), reload with SIGHUP
#   (ExecReload), stop with SIGTERM and check a clean exit, then dpkg --purge and check
#   that nothing is left. Refuses to run where a kftpd package or user already exists.
#   Everything after the build is bounded (~1 minute at worst); a trap kills the server
#   and purges the package on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'deb-test: %s\n' "$*"; }
fail() { printf 'deb-test: FAIL: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || fail "needs root (dpkg -i, a system user)"
if dpkg-query -W -f='${Status}' kftpd 2>/dev/null | grep -q 'installed\|config-files'; then
  fail "a kftpd package is already on this machine; not touching it"
fi
getent passwd kftpd >/dev/null && fail "a kftpd user already exists; not touching it"
# The default root, or (when /srv/ftp was there before, e.g. vsftpd's, root's and
# untouched by the package) a root of the test account's own.
srv_existed=0
[[ -e /srv/ftp ]] && srv_existed=1
srv_before=$(stat -c '%a %U %G' /srv/ftp 2>/dev/null || true)

work=$(mktemp -d /tmp/kftpd-deb-test.XXXXXX)
chmod 755 "$work"
pid=
installed=0
cleanup() {
  local rc=$?
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [[ $installed == 1 ]]; then
    [[ $rc != 0 && -s "$work/curl.log" ]] && { echo '--- curl'; grep -E '^[<>*] ' "$work/curl.log" | tail -n 40; } >&2
    [[ $rc != 0 && -s "$work/server.log" ]] && { echo '--- kftpd output'; cat "$work/server.log"; } >&2
    [[ -n "${root:-}" ]] && rm -f "$root/ci-upload.bin"
    dpkg --purge kftpd >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

# --- Build (cargo does nothing when target/dist is up to date) ---------------------------
bash dist/deb.sh --fast >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "building the package"; }
deb=$(ls -t target/debian/kftpd_*.deb | head -n 1)
say "package $deb ($(du -k "$deb" | cut -f1) KiB)"

# --- Install ------------------------------------------------------------------------------
installed=1
timeout 120 dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }

for f in /usr/sbin/kftpd /usr/bin/kftp; do
  [[ -x $f ]] || fail "$f missing"
  n=$(readelf -S "$f" | grep -c '\.debug_' || true)
  ((n == 0)) || fail "$f has $n debug sections"
  say "$f $(stat -c %s "$f") bytes, no debug info"
done
want="($(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)"
for b in /usr/sbin/kftpd /usr/bin/kftp; do
  v=$($b --version)
  [[ $v == "${b##*/} $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1) $want"* ]] || fail "$b --version says '$v'"
done
say "$(/usr/sbin/kftpd --version); $(/usr/bin/kftp --version)"

entry=$(getent passwd kftpd) || fail "no kftpd user"
IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
((uid < 1000)) || fail "kftpd is not a system user (uid $uid)"
[[ $home == /var/lib/kftpd ]] || fail "kftpd's home is $home"
[[ $shell == */nologin || $shell == /bin/false ]] || fail "kftpd has a login shell ($shell)"
getent group kftpd >/dev/null || fail "no kftpd group"
[[ $(stat -c '%a %U %G' /var/lib/kftpd) == "750 kftpd kftpd" ]] || fail "/var/lib/kftpd is $(stat -c '%a %U %G' /var/lib/kftpd)"
[[ $(stat -c '%a %U' /var/log/kftpd) == "750 kftpd" ]] || fail "/var/log/kftpd is $(stat -c '%a %U' /var/log/kftpd)"
if [[ $srv_existed == 0 ]]; then
  [[ $(stat -c '%U' /srv/ftp) == kftpd ]] || fail "/srv/ftp not kftpd's"
fi
dpkg-query -W -f='${Conffiles}\n' kftpd | grep -q '^ /etc/kftpd/kftpd.toml ' || fail "/etc/kftpd/kftpd.toml is not a conffile"
/usr/sbin/kftpd check-config /etc/kftpd/kftpd.toml >/dev/null || fail "check-config on the installed config"
dpkg-query -W -f='${Conffiles}\n' kftpd | grep -q '^ /etc/pam.d/kftpd ' || fail "/etc/pam.d/kftpd (--auth pam) is not a conffile"

unit=$(dpkg -L kftpd | grep '/systemd/system/kftpd.service$') || fail "no unit in the package"
[[ -L /etc/systemd/system/multi-user.target.wants/kftpd.service ]] || fail "unit not enabled"
verify=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $verify"
if grep -q kftpd <<<"$verify"; then fail "systemd-analyze verify: $verify"; fi
say "unit $unit enabled (not started), systemd-analyze verify clean"

man -w 8 kftpd >/dev/null && man -w 1 kftp >/dev/null && man -w 8 kftpd-user-add >/dev/null || fail "man pages"
for f in /usr/share/bash-completion/completions/{kftpd,kftp} \
         /usr/share/zsh/vendor-completions/{_kftpd,_kftp} \
         /usr/share/fish/vendor_completions.d/{kftpd,kftp}.fish; do
  [[ -s $f ]] || fail "$f missing"
done
bash -n /usr/share/bash-completion/completions/kftpd || fail "bash completion does not parse"

# --- Run it as the unit does --------------------------------------------------------------
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ $exec_start == /usr/sbin/kftpd* ]] || fail "unexpected ExecStart: $exec_start"
grep -qx 'User=kftpd' "$unit" && grep -qx 'AmbientCapabilities=CAP_NET_BIND_SERVICE' "$unit" \
  && grep -qx 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' "$unit" || fail "unit User/capabilities changed: update this test"
# A free privileged port on loopback: binding it proves the ambient capability works.
port=
for p in $(shuf -i 600-999 -n 50); do
  if ! ss -Htln "sport = :$p" | grep -q .; then port=$p; break; fi
done
[[ -n $port ]] || fail "no free port below 1024"

root=/srv/ftp
root_args=()
if [[ $srv_existed == 1 ]]; then
  root=$work/root
  install -d -o kftpd -g kftpd -m 0755 "$root"
  root_args=(--root "$root")
fi
printf 'ci-secret-pw\n' | runuser -u kftpd -- /usr/sbin/kftpd user add ci --users /var/lib/kftpd/users.toml \
  "${root_args[@]}" --password-stdin >/dev/null || fail "kftpd user add"

: >"$work/server.log"
# shellcheck disable=SC2086 # ExecStart's words, as systemd splits them (no quoting in it)
setpriv --reuid=kftpd --regid=kftpd --init-groups \
  --bounding-set=-all,+net_bind_service --inh-caps=-all,+net_bind_service \
  --ambient-caps=-all,+net_bind_service --no-new-privs \
  -- $exec_start --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q "listening on 127.0.0.1:$port" "$work/server.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "kftpd exited at start"; }
  sleep 0.1
done
grep -q "listening on 127.0.0.1:$port" "$work/server.log" || fail "kftpd not listening after 10 s"
owner=$(ps -o user= -p "$pid" | tr -d ' ')
[[ $owner == kftpd ]] || fail "kftpd runs as $owner"
say "kftpd (pid $pid) as kftpd on 127.0.0.1:$port, account root $root"

url="ftp://127.0.0.1:$port"
# curl's dialogue goes to curl.log, shown when the test fails.
curl_() { timeout 30 curl -sS -v --max-time 25 --ssl-reqd -k -u ci:ci-secret-pw "$@" 2>>"$work/curl.log"; }
# The packaged config requires TLS before login even on loopback.
if timeout 30 curl -sS --max-time 25 -u ci:ci-secret-pw "$url/" >/dev/null 2>&1; then
  fail "a clear-text login was accepted"
fi
head -c 3000000 /dev/urandom >"$work/up.bin"
curl_ -T "$work/up.bin" "$url/ci-upload.bin" || fail "upload"
curl_ -o "$work/down.bin" "$url/ci-upload.bin" || fail "download"
cmp "$work/up.bin" "$work/down.bin" || fail "downloaded bytes differ"
[[ $(stat -c %U "$root/ci-upload.bin") == kftpd ]] || fail "uploaded file not kftpd's"
say "FTPS upload and download byte-exact (3 MB)"

# ExecReload: SIGHUP reloads and keeps serving.
kill -HUP "$pid"
sleep 0.5
kill -0 "$pid" 2>/dev/null || fail "kftpd died on SIGHUP"
curl_ -o "$work/down2.bin" "$url/ci-upload.bin" || fail "download after reload"
cmp "$work/up.bin" "$work/down2.bin" || fail "bytes differ after reload"
[[ $(grep -c ci-upload.bin /var/log/kftpd/xferlog) -ge 3 ]] || fail "xferlog lacks the transfers"
curl_ -Q "DELE ci-upload.bin" "$url/" >/dev/null || fail "DELE"
say "SIGHUP reload kept serving; xferlog has the transfers"

# Stop as systemd does: SIGTERM, then wait up to TimeoutStopSec.
stop_secs=$(sed -n 's/^TimeoutStopSec=//p' "$unit")
kill -TERM "$pid"
for _ in $(seq $((stop_secs * 10))); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "kftpd still running ${stop_secs}s after SIGTERM"
rc=0
wait "$pid" || rc=$?
pid=
((rc == 0)) || { cat "$work/server.log" >&2; fail "kftpd exited with $rc after SIGTERM"; }
say "SIGTERM: clean exit"

# --- Purge ----------------------------------------------------------------------------------
timeout 120 dpkg --purge kftpd >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg --purge"; }
installed=0
left=()
for f in /usr/sbin/kftpd /usr/bin/kftp /etc/kftpd /etc/pam.d/kftpd /var/lib/kftpd /var/log/kftpd "$unit" \
         /etc/systemd/system/multi-user.target.wants/kftpd.service \
         /usr/share/man/man8/kftpd.8.gz /usr/share/doc/kftpd; do
  [[ -e $f || -L $f ]] && left+=("$f")
done
[[ $srv_existed == 0 && -e /srv/ftp ]] && left+=(/srv/ftp)
if [[ $srv_existed == 1 && $(stat -c '%a %U %G' /srv/ftp 2>/dev/null) != "$srv_before" ]]; then
  fail "the /srv/ftp that was there before ($srv_before) was changed or removed"
fi
getent passwd kftpd >/dev/null && left+=("user kftpd")
getent group kftpd >/dev/null && left+=("group kftpd")
dpkg-query -W -f='${Status}' kftpd 2>/dev/null | grep -q 'installed\|config-files' && left+=("dpkg status")
((${#left[@]} == 0)) || fail "left after purge: ${left[*]}"
say "purged: nothing left"
say "ok"
