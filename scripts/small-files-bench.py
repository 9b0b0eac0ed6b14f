#!/usr/bin/env python3
"""Small files, the way users see them: lftp `mirror` of N x SIZE files from (and with
--upload, to) several FTP servers in one run, interleaved, each server in its own cpuacct
cgroup (children included), medians of --reps.

  python3 scripts/small-files-bench.py --kftpd before=/path/kftpd --kftpd after=/path/kftpd \
      [--peers vsftpd,pure-ftpd,proftpd] [--files 2000] [--size 4096] [--reps 3] [--upload] \
      [--work-dir /dev/shm]

Prints one line per run and a table of medians: files/s and server CPU ms per file.
Needs root (cgroup v1 cpuacct at /sys/fs/cgroup/cpuacct), lftp, and the peers that
scripts/install-peers.sh unpacks into ~/.cache/kftp-peers.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PEERS = os.path.expanduser("~/.cache/kftp-peers")
CG = "/sys/fs/cgroup/cpuacct"
USER, PASSWORD = "bench", "bench-password-1"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, secs=15):
    end = time.time() + secs
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.args}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server did not listen on {port}")


def sha512_crypt(pw):
    return subprocess.check_output(["openssl", "passwd", "-6", pw], text=True).strip()


class Server:
    def __init__(self, name, work, root, kftpd=None, extra=()):
        self.name, self.user, self.password = name, USER, PASSWORD
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        self.port = free_port()
        if kftpd:
            users = os.path.join(d, "users.toml")
            subprocess.run([kftpd, "user", "add", USER, "--users", users, "--root", root,
                            "--perms", "all", "--password-stdin"], input=PASSWORD + "\n",
                           text=True, check=True, capture_output=True)
            cmd = [kftpd, "--listen", f"127.0.0.1:{self.port}", "--root", root,
                   "--users", users, "--state-dir", os.path.join(d, "state"),
                   "--no-tls-required", "--max-per-ip", "4000", "--allow-root", *extra]
        elif name == "vsftpd":
            conf = os.path.join(d, "vsftpd.conf")
            with open(conf, "w") as f:
                f.write(f"listen=YES\nlisten_ipv6=NO\nbackground=NO\nlisten_address=127.0.0.1\n"
                        f"listen_port={self.port}\nrun_as_launching_user=YES\nanonymous_enable=YES\n"
                        f"no_anon_password=YES\nanon_root={root}\nlocal_enable=NO\nwrite_enable=YES\n"
                        "anon_upload_enable=YES\nanon_mkdir_write_enable=YES\n"
                        "anon_other_write_enable=YES\nanon_world_readable_only=NO\nanon_umask=022\n"
                        "pasv_enable=YES\npasv_min_port=20000\npasv_max_port=60000\n"
                        "pasv_address=127.0.0.1\nseccomp_sandbox=NO\nxferlog_enable=NO\n"
                        "syslog_enable=NO\nmax_per_ip=0\nmax_clients=0\n")
            cmd = [f"{PEERS}/vsftpd/usr/sbin/vsftpd", conf]
            self.user, self.password = "anonymous", "x@"
        elif name == "pure-ftpd":
            txt, pdb = os.path.join(d, "passwd"), os.path.join(d, "pure.pdb")
            with open(txt, "w") as f:
                f.write(f"{USER}:{sha512_crypt(PASSWORD)}:65534:65534::{root}/./::::::::::::\n")
            if os.path.exists(pdb):
                os.remove(pdb)
            subprocess.run([f"{PEERS}/pure-ftpd/usr/bin/pure-pw", "mkdb", pdb, "-f", txt],
                           check=True, capture_output=True)
            cmd = [f"{PEERS}/pure-ftpd/usr/sbin/pure-ftpd", "-S", f"127.0.0.1,{self.port}",
                   "-l", f"puredb:{pdb}", "-p", "20000:60000", "-P", "127.0.0.1", "-E", "-H",
                   "-4", "-c", "4000", "-C", "4000"]
        elif name == "proftpd":
            with open(os.path.join(d, "passwd"), "w") as f:
                f.write(f"{USER}:{sha512_crypt(PASSWORD)}:0:0::{root}:/bin/sh\n")
            os.chmod(os.path.join(d, "passwd"), 0o600)
            with open(os.path.join(d, "group"), "w") as f:
                f.write("root:x:0:\n")
            conf = os.path.join(d, "proftpd.conf")
            with open(conf, "w") as f:
                f.write(f"ServerType standalone\nDefaultServer on\nPort {self.port}\n"
                        "DefaultAddress 127.0.0.1\nSocketBindTight on\nUseIPv6 off\nUser root\n"
                        "Group root\nRootLogin on\nRequireValidShell off\n"
                        f"AuthOrder mod_auth_file.c\nAuthUserFile {d}/passwd\n"
                        f"AuthGroupFile {d}/group\nDefaultRoot ~\nPassivePorts 20000 60000\n"
                        f"MasqueradeAddress 127.0.0.1\nScoreboardFile {d}/scoreboard\n"
                        f"PidFile {d}/pid\nDelayTable none\nWtmpLog off\nUseReverseDNS off\n"
                        f"TransferLog none\nSystemLog {d}/proftpd.log\nMaxInstances 4000\n"
                        "UseSendfile on\n<Limit ALL>\nAllowAll\n</Limit>\n"
                        "<Directory />\nAllowOverwrite on\n</Directory>\n")
            cmd = [f"{PEERS}/proftpd/usr/sbin/proftpd", "-n", "-q", "-c", conf]
        else:
            raise SystemExit(f"unknown server {name}")
        self.cg = os.path.join(CG, f"smallbench-{os.getpid()}-{name}")
        os.makedirs(self.cg, exist_ok=True)
        log = open(os.path.join(d, "log"), "w")
        # The server is put in its cgroup before it execs, so every child it forks is too.
        cgprocs = os.path.join(self.cg, "cgroup.procs")

        def enter():
            with open(cgprocs, "w") as f:
                f.write(str(os.getpid()))

        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     preexec_fn=enter)
        wait_port(self.port, self.proc)

    def cpu_ns(self):
        with open(os.path.join(self.cg, "cpuacct.usage")) as f:
            return int(f.read())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        time.sleep(0.3)
        try:
            with open(os.path.join(self.cg, "cgroup.procs")) as f:
                for pid in f.read().split():
                    os.kill(int(pid), 9)
            time.sleep(0.2)
            os.rmdir(self.cg)
        except OSError:
            pass


def mirror(s, remote, local, parallel, upload):
    verb = "mirror -R" if upload else "mirror"
    src, dst = (local, remote) if upload else (remote, local)
    script = (f"set ftp:ssl-allow no; set net:max-retries 1; set xfer:clobber on; "
              f"{verb} --parallel={parallel} {src} {dst}; quit")
    t0, c0 = time.time(), s.cpu_ns()
    r = subprocess.run(["lftp", "-u", f"{s.user},{s.password}", "-p", str(s.port), "-e",
                        script, "127.0.0.1"], capture_output=True, text=True, timeout=600)
    dt, cpu = time.time() - t0, (s.cpu_ns() - c0) / 1e9
    if r.returncode != 0:
        raise SystemExit(f"lftp against {s.name} failed: {r.stderr[-500:]}")
    return dt, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kftpd", action="append", default=[], help="label=binary")
    ap.add_argument("--kftpd-args", default="", help="extra kftpd flags, space separated")
    ap.add_argument("--peers", default="vsftpd,pure-ftpd")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--parallel", default="1,8")
    ap.add_argument("--upload", action="store_true")
    ap.add_argument("--work-dir", default="/tmp",
                    help="where the files live (/dev/shm: tmpfs, no ext4 inode-allocation "
                         "scan after the previous rep's deletions)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="smallbench-", dir=a.work_dir)
    os.chmod(work, 0o755)
    root = os.path.join(work, "root")
    src = os.path.join(root, "src")
    os.makedirs(src)
    os.chmod(root, 0o777)
    os.chmod(src, 0o777)
    blob = os.urandom(a.size)
    for i in range(a.files):
        with open(os.path.join(src, f"f{i:05}"), "wb") as f:
            f.write(blob)
    servers = []
    try:
        for spec in a.kftpd:
            label, binary = spec.split("=", 1)
            servers.append(Server(label, work, root, kftpd=binary, extra=a.kftpd_args.split()))
        for p in filter(None, a.peers.split(",")):
            servers.append(Server(p, work, root))
        results = {}
        print(f"load: {open('/proc/loadavg').read().strip()}", flush=True)
        for rep in range(a.reps):
            for par in [int(x) for x in a.parallel.split(",")]:
                for s in servers:
                    dirs = [("get", False)] + ([("put", True)] if a.upload else [])
                    for kind, up in dirs:
                        local = os.path.join(work, f"local-{s.name}")
                        remote = "src"  # relative: vsftpd does not chroot anonymous here
                        if up:
                            remote = f"up-{s.name}"
                            shutil.rmtree(os.path.join(root, remote), ignore_errors=True)
                            os.makedirs(os.path.join(root, remote))
                            os.chmod(os.path.join(root, remote), 0o777)
                            local = src
                        else:
                            shutil.rmtree(local, ignore_errors=True)
                        dt, cpu = mirror(s, remote, local, par, up)
                        got = os.path.join(root, remote) if up else local
                        n = len(os.listdir(got))
                        if n != a.files:
                            raise SystemExit(f"{s.name} {kind}: {n} files, want {a.files}")
                        results.setdefault((kind, par, s.name), []).append((dt, cpu))
                        print(f"rep {rep} {kind} par={par} {s.name:10} {a.files/dt:7.0f} files/s "
                              f"cpu {cpu*1e3/a.files:.3f} ms/file", flush=True)
        print(f"load: {open('/proc/loadavg').read().strip()}")
        print(f"\nmedians of {a.reps}: {a.files} x {a.size} B, lftp mirror")
        print(f"{'dir':4} {'par':>3} {'server':10} {'files/s':>8} {'cpu ms/file':>12}")
        for (kind, par, name), v in sorted(results.items()):
            fps = statistics.median(a.files / d for d, _ in v)
            cpu = statistics.median(c * 1e3 / a.files for _, c in v)
            print(f"{kind:4} {par:3} {name:10} {fps:8.0f} {cpu:12.3f}")
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
