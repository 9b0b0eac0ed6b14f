#!/bin/bash
# Starts two kftpd builds (auto and kernel each), vsftpd, proftpd and pure-ftpd on fixed
# loopback ports, each in its own cpuacct cgroup (pp-NAME), serving /work/pp-bench/root.
# Usage: start.sh BEFORE_KFTPD AFTER_KFTPD (BENCHMARKS.md, "Plain data path", session 5)
set -e
B=/work/pp-bench; R=$B/root; P=~/.cache/kftp-peers
BEFORE=$1; AFTER=$2
mkdir -p $R; chmod 777 $R
[ -f $R/src.bin ] || { head -c 1G /dev/urandom > $R/src.bin; }
chmod 644 $R/src.bin
[ -f /dev/shm/pp-1g.bin ] || cp $R/src.bin /dev/shm/pp-1g.bin
cg() { mkdir -p /sys/fs/cgroup/cpuacct/pp-$1; echo $2 > /sys/fs/cgroup/cpuacct/pp-$1/cgroup.procs; echo $2 > $B/$1.pid; }
startk() { # name binary port data-path
  local n=$1 bin=$2 port=$3 path=$4; rm -rf $B/users-$n.toml $B/state-$n
  echo kftp-bench-pw | $bin user add bench --users $B/users-$n.toml --root $R --perms all --password-stdin >/dev/null
  KFTPD_LOG=info $bin --allow-root --listen 127.0.0.1:$port --root $R --users $B/users-$n.toml --state-dir $B/state-$n \
     --no-tls-required --tls-sniff-ms 0 --max-per-ip 4000 --data-path $path >$B/k-$n.out 2>$B/k-$n.log &
  cg $n $!; }
startk kbefore $BEFORE 22301 auto; startk kafter $AFTER 22302 auto
startk kbk $BEFORE 22321 kernel; startk kak $AFTER 22323 kernel
mkdir -p $B/vs; cat > $B/vs/vsftpd.conf <<C
listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
listen_port=22303
run_as_launching_user=YES
anonymous_enable=YES
no_anon_password=YES
anon_root=$R
local_enable=NO
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
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
max_per_ip=0
max_clients=0
vsftpd_log_file=$B/vs/vsftpd.log
C
$P/vsftpd/usr/sbin/vsftpd $B/vs/vsftpd.conf >$B/vs/log 2>&1 &
cg vsftpd $!
mkdir -p $B/pro; H=$(openssl passwd -6 kftp-bench-pw)
echo "bench:$H:0:0::$R:/bin/sh" > $B/pro/passwd; chmod 600 $B/pro/passwd; echo "root:x:0:" > $B/pro/group
cat > $B/pro/proftpd.conf <<C
ServerType standalone
DefaultServer on
Port 22304
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
User root
Group root
RootLogin on
RequireValidShell off
AuthOrder mod_auth_file.c
AuthUserFile $B/pro/passwd
AuthGroupFile $B/pro/group
DefaultRoot ~
PassivePorts 20000 60000
MasqueradeAddress 127.0.0.1
ScoreboardFile $B/pro/scoreboard
PidFile $B/pro/pid
DelayTable none
WtmpLog off
UseReverseDNS off
TransferLog none
SystemLog $B/pro/proftpd.log
MaxInstances 4000
UseSendfile on
<Limit ALL>
AllowAll
</Limit>
<Directory />
AllowOverwrite on
</Directory>
C
$P/proftpd/usr/sbin/proftpd -n -q -c $B/pro/proftpd.conf >$B/pro/log 2>&1 &
cg proftpd $!
mkdir -p $B/pure; echo "bench:$H:65534:65534::$R/./::::::::::::" > $B/pure/pureftpd.passwd
rm -f $B/pure/pureftpd.pdb; $P/pure-ftpd/usr/bin/pure-pw mkdb $B/pure/pureftpd.pdb -f $B/pure/pureftpd.passwd
$P/pure-ftpd/usr/sbin/pure-ftpd -S 127.0.0.1,22305 -l puredb:$B/pure/pureftpd.pdb -p 20000:60000 -P 127.0.0.1 -E -H -4 -c 4000 -C 4000 >$B/pure/log 2>&1 &
cg pure $!
sleep 1; echo started
