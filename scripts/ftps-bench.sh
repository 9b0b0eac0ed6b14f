#!/usr/bin/env bash
# FTPS RETR/STOR of one page-cached file with curl --ssl-reqd against kftpd builds and the
# peers (vsftpd ssl_enable, proftpd mod_tls, pure-ftpd -Y 1), each server in its own cgroup
# v1 cpuacct group, variants interleaved round by round. Prints one line per transfer and
# the medians: MB/s (curl's figure, 10^6 bytes/s) and server CPU s/GiB (cgroup, children
# included).
#
#   scripts/ftps-bench.sh [-n ROUNDS] [-s SIZE_MIB] [-d retr,stor] NAME=KFTPD_BIN... [peers]
# CURL_ARGS adds curl options (e.g. --tls13-ciphers TLS_AES_128_GCM_SHA256); KFTPD_ARGS adds
# kftpd flags. It runs in a session of its own whose autogroup gets AUTOGROUP_NICE (default
# -10; "off" keeps the caller's): with kernel.sched_autogroup_enabled, niced builds in other
# terminals otherwise take as much CPU as the whole measurement (kftp-bench --autogroup-nice).
# e.g. scripts/ftps-bench.sh -n 3 before=/tmp/kftpd-before after=target/release/kftpd vsftpd proftpd pure-ftpd
set -euo pipefail
if [ "${AUTOGROUP_NICE:=-10}" != off ] && [ -z "${FTPSB_OWN_SESSION:-}" ] &&
  [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ]; then
  # The new session has no terminal: pass Ctrl-C on, so its cleanup still runs.
  FTPSB_OWN_SESSION=1 setsid bash "$0" "$@" &
  child=$!
  trap 'kill -TERM $child 2>/dev/null' INT TERM
  wait $child || { rc=$?; wait $child 2>/dev/null; exit $rc; }
  exit 0
fi
if [ -n "${FTPSB_OWN_SESSION:-}" ]; then
  echo "$AUTOGROUP_NICE" > /proc/self/autogroup 2>/dev/null || true
fi
ROUNDS=3 SIZE=1024 DIRS=retr,stor
while getopts n:s:d: o; do case $o in n) ROUNDS=$OPTARG;; s) SIZE=$OPTARG;; d) DIRS=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND - 1))
PEERS=${PEERS_DIR:-$HOME/.cache/kftp-peers}
CG=/sys/fs/cgroup/cpuacct
W=$(mktemp -d /tmp/ftps-bench.XXXXXX)
ROOT=$W/root; mkdir -p "$ROOT"; chmod 1777 "$ROOT"
SRC=$W/big.bin
head -c $((SIZE << 20)) /dev/urandom > "$SRC"; cp "$SRC" "$ROOT/big.bin"; chmod 644 "$ROOT/big.bin"
cat "$SRC" "$ROOT/big.bin" > /dev/null
PW=benchpass
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
cat "$W/cert.pem" "$W/key.pem" > "$W/both.pem"
HASH=$(openssl passwd -6 $PW)
declare -A PORT USERPW PIDS
NAMES=()
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start NAME CMD...: runs CMD in a fresh cpuacct group named after NAME.
start() {
  local name=$1; shift
  mkdir -p "$CG/ftpsb-$name"
  sh -c "echo \$\$ > $CG/ftpsb-$name/cgroup.procs; exec \"\$@\"" sh "$@" > "$W/$name.out" 2> "$W/$name.err" &
  PIDS[$name]=$!
  NAMES+=("$name")
}
for spec in "$@"; do
  case $spec in
  *=*)
    name=${spec%%=*} bin=$(readlink -f "${spec#*=}")
    echo $PW | "$bin" user add bench --users "$W/users-$name.toml" --root "$ROOT" --perms all --password-stdin >/dev/null
    PORT[$name]=$(port); USERPW[$name]=bench:$PW
    start "$name" "$bin" --listen 127.0.0.1:${PORT[$name]} --root "$ROOT" --users "$W/users-$name.toml" \
      --state-dir "$W/state-$name" --tls-cert "$W/cert.pem" --tls-key "$W/key.pem" \
      --max-per-ip 4000 --tls-sniff-ms 0 --allow-root ${KFTPD_ARGS:-} ;;
  vsftpd)
    PORT[vsftpd]=$(port); USERPW[vsftpd]=anonymous:x
    cat > "$W/vsftpd.conf" <<C
listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
listen_port=${PORT[vsftpd]}
run_as_launching_user=YES
anonymous_enable=YES
no_anon_password=YES
anon_root=$ROOT
local_enable=NO
write_enable=YES
anon_upload_enable=YES
anon_other_write_enable=YES
anon_world_readable_only=NO
anon_umask=022
pasv_enable=YES
pasv_min_port=20000
pasv_max_port=60000
pasv_address=127.0.0.1
seccomp_sandbox=NO
xferlog_enable=NO
syslog_enable=NO
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=NO
force_anon_data_ssl=NO
rsa_cert_file=$W/cert.pem
rsa_private_key_file=$W/key.pem
ssl_tlsv1=NO
ssl_sslv2=NO
ssl_sslv3=NO
require_ssl_reuse=YES
C
    bin=$PEERS/vsftpd/usr/sbin/vsftpd; [ -x "$bin" ] || bin=/usr/sbin/vsftpd
    start vsftpd "$bin" "$W/vsftpd.conf" ;;
  proftpd)
    PORT[proftpd]=$(port); USERPW[proftpd]=bench:$PW; d=$W/proftpd; mkdir -p $d
    echo "bench:$HASH:0:0::$ROOT:/bin/sh" > $d/passwd; chmod 600 $d/passwd; echo 'root:x:0:' > $d/group
    m=$PEERS/proftpd/usr/lib/proftpd
    cat > $d/proftpd.conf <<C
ServerType standalone
DefaultServer on
Port ${PORT[proftpd]}
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
User root
Group root
RootLogin on
RequireValidShell off
AuthOrder mod_auth_file.c
AuthUserFile $d/passwd
AuthGroupFile $d/group
DefaultRoot ~
PassivePorts 20000 60000
MasqueradeAddress 127.0.0.1
ScoreboardFile $d/scoreboard
PidFile $d/pid
DelayTable none
WtmpLog off
UseReverseDNS off
TransferLog none
SystemLog $d/proftpd.log
MaxInstances 4000
UseSendfile on
<Limit ALL>
AllowAll
</Limit>
<Directory />
AllowOverwrite on
</Directory>
ModulePath $m
LoadModule mod_tls.c
TLSEngine on
TLSRequired off
TLSProtocol TLSv1.2 TLSv1.3
TLSRSACertificateFile $W/cert.pem
TLSRSACertificateKeyFile $W/key.pem
TLSVerifyClient off
TLSOptions NoSessionReuseRequired
TLSLog $d/tls.log
C
    start proftpd $PEERS/proftpd/usr/sbin/proftpd -n -q -c $d/proftpd.conf ;;
  pure-ftpd)
    PORT[pure-ftpd]=$(port); USERPW[pure-ftpd]=bench:$PW
    echo "bench:$HASH:65534:65534::$ROOT/./::::::::::::" > $W/pure.passwd
    $PEERS/pure-ftpd/usr/bin/pure-pw mkdb $W/pure.pdb -f $W/pure.passwd >/dev/null 2>&1
    start pure-ftpd $PEERS/pure-ftpd/usr/sbin/pure-ftpd -S 127.0.0.1,${PORT[pure-ftpd]} -l puredb:$W/pure.pdb \
      -p 20000:60000 -P 127.0.0.1 -E -H -4 -c 4000 -C 4000 -Y 1 -2 $W/both.pem ;;
  *) echo "unknown server $spec" >&2; exit 2 ;;
  esac
done
cleanup() {
  for n in "${NAMES[@]}"; do kill "${PIDS[$n]}" 2>/dev/null || true; done
  sleep 0.5
  for n in "${NAMES[@]}"; do
    for p in $(cat "$CG/ftpsb-$n/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  done
  sleep 0.3
  for n in "${NAMES[@]}" curl; do rmdir "$CG/ftpsb-$n" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for n in "${NAMES[@]}"; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/${PORT[$n]}) 2>/dev/null && break; sleep 0.1; done
done
uptime
echo "autogroup: $(cat /proc/self/autogroup 2>/dev/null || echo none)"
for n in "${NAMES[@]}"; do
  # The suite each server negotiates with this curl (its first data connection's line).
  curl -sv --ssl-reqd -k ${CURL_ARGS:-} "ftp://${USERPW[$n]}@127.0.0.1:${PORT[$n]}/" -o /dev/null 2>&1 |
    grep -m1 'SSL connection using' | sed "s/^\* */  $n: /"
done
cpu() { cat "$CG/ftpsb-$1/cpuacct.usage"; }
mkdir -p "$CG/ftpsb-curl"
# curl in its own cgroup (entered before exec, so all of its CPU is counted).
ccurl() { sh -c "echo \$\$ > $CG/ftpsb-curl/cgroup.procs; exec curl \"\$@\"" sh "$@"; }
RES=$W/results; : > $RES
for r in $(seq "$ROUNDS"); do
  for dir in ${DIRS//,/ }; do
    for n in "${NAMES[@]}"; do
      url=ftp://${USERPW[$n]}@127.0.0.1:${PORT[$n]}
      c0=$(cpu "$n") k0=$(cpu curl)
      if [ "$dir" = retr ]; then
        mbs=$(ccurl -sS --ssl-reqd -k ${CURL_ARGS:-} -o /dev/null -w '%{speed_download}' "$url/big.bin")
      else
        mbs=$(ccurl -sS --ssl-reqd -k ${CURL_ARGS:-} -T "$SRC" -w '%{speed_upload}' "$url/up-$n.bin")
        cmp -s "$SRC" "$ROOT/up-$n.bin" || echo "  ($n: uploaded file differs!)"
        rm -f "$ROOT/up-$n.bin"
      fi
      c1=$(cpu "$n") k1=$(cpu curl)
      awk -v n="$n" -v d="$dir" -v r="$r" -v b="$mbs" -v c=$((c1 - c0)) -v k=$((k1 - k0)) -v s=$SIZE \
        'BEGIN { printf "%-10s %s round %d  %7.0f MB/s  %.3f s/GiB  curl %.3f s/GiB\n", n, d, r, b / 1e6, c / 1e9 * 1024 / s, k / 1e9 * 1024 / s }' | tee -a $RES
    done
  done
done
echo "medians:"
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for dir in ${DIRS//,/ }; do for n in "${NAMES[@]}"; do
  rows=$(grep "^$n * $dir " $RES)
  printf "  %-10s %s  %6s MB/s  %s s/GiB  curl %s s/GiB (median of %d)\n" "$n" "$dir" \
    "$(awk '{print $5}' <<<"$rows" | median)" "$(awk '{print $7}' <<<"$rows" | median)" \
    "$(awk '{print $10}' <<<"$rows" | median)" "$(wc -l <<<"$rows")"
done; done
uptime
