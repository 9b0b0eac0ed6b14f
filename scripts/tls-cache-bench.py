#!/usr/bin/env python3
"""kftp mirror --tls of N x 4 KiB files to and from kftpd: before/after interleaved.

usage: tls-cache-bench.py BEFORE_DIR AFTER_DIR ROUNDS [N] [extra mirror args...]
Each variant runs its own kftpd (its own binary) and its own kftp. Per run: wall time,
server CPU (utime+stime of the kftpd process from /proc, all threads), client CPU
(RUSAGE_CHILDREN of the kftp process)."""
import os, re, resource, shutil, subprocess, sys, time, statistics, json

before, after, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
extra = sys.argv[5:]
W = os.environ.get("WORK", "/tmp/tlsc/w")
shutil.rmtree(W, ignore_errors=True)
os.makedirs(W)
TICK = os.sysconf("SC_CLK_TCK")

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK

src = f"{W}/src"
os.makedirs(src)
for i in range(n):
    d = f"{src}/d{i % 10}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i:05}.bin", "wb") as fh:
        fh.write(os.urandom(4096))

servers = {}
for k, (name, bdir) in enumerate((("before", before), ("after", after))):
    base = f"{W}/{name}"
    root = f"{base}/root"
    os.makedirs(root)
    os.chmod(root, 0o777)
    shutil.copytree(src, f"{root}/site")
    p = subprocess.run([f"{bdir}/kftpd", "user", "add", "alice", "--users", f"{base}/users.toml",
                        "--password-stdin"], input=b"s3cret-pw\n", capture_output=True)
    assert p.returncode == 0, p
    log = open(f"{base}/kftpd.log", "w")
    port = 2520 + k
    srv = subprocess.Popen([f"{bdir}/kftpd", "--allow-root", "--listen", f"127.0.0.1:{port}",
                            "--root", root, "--users", f"{base}/users.toml", "--state-dir",
                            f"{base}/state"], stdout=log, stderr=subprocess.STDOUT)
    pin = None
    for _ in range(100):
        time.sleep(0.1)
        m = re.search(r"([0-9A-F]{2}(?::[0-9A-F]{2}){31})", open(f"{base}/kftpd.log").read())
        if m:
            pin = m.group(1)
            break
    assert pin, open(f"{base}/kftpd.log").read()
    servers[name] = dict(bdir=bdir, port=port, pid=srv.pid, proc=srv, base=base, pin=pin)

def mirror(s, a, b):
    env = dict(os.environ, KFTP_PASSWORD="s3cret-pw")
    c0 = cpu(s["pid"])
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([f"{s['bdir']}/kftp", "--netrc", "/nonexistent", "mirror", "--tls",
                        "--pin-sha256", s["pin"], *extra, a, b], env=env,
                       capture_output=True, text=True)
    t = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    c1 = cpu(s["pid"])
    if p.returncode != 0:
        print("FAILED:", s["bdir"], p.stderr.strip().splitlines()[-1][:300], flush=True)
        fails.append((s["bdir"], p.stderr.strip().splitlines()[-1][:300]))
    return t, c1 - c0, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)

fails = []

def same_tree(a, b):
    out = subprocess.run(["diff", "-r", "-q", a, b], capture_output=True, text=True)
    if out.returncode != 0:
        print("DIFFERS:", a, b, out.stdout[:300], flush=True)

res = {(v, d): [] for v in servers for d in ("down", "up")}
print("uptime:", open("/proc/loadavg").read().strip(), time.strftime("%H:%M:%S", time.gmtime()), "UTC")
for r in range(rounds):
    order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
    for v in order:
        s = servers[v]
        url = f"ftp://alice@127.0.0.1:{s['port']}"
        dst = f"{s['base']}/down{r}"
        res[(v, "down")].append(mirror(s, f"{url}/site/", dst))
        same_tree(src, dst)
        res[(v, "up")].append(mirror(s, dst, f"{url}/up{r}/"))
        same_tree(src, f"{s['base']}/root/up{r}")
        shutil.rmtree(dst, ignore_errors=True)
        shutil.rmtree(f"{s['base']}/root/up{r}", ignore_errors=True)
        print(r, v, "down t=%.2f srv=%.2f cli=%.2f" % res[(v, "down")][-1],
              "up t=%.2f srv=%.2f cli=%.2f" % res[(v, "up")][-1], flush=True)
print("uptime:", open("/proc/loadavg").read().strip(), time.strftime("%H:%M:%S", time.gmtime()), "UTC")
print(f"medians of {rounds}, {n} files, extra args {extra}:")
print("| direction | variant | files/s | kftpd CPU ms/file | kftp CPU ms/file |")
for d in ("down", "up"):
    for v in ("before", "after"):
        xs = res[(v, d)]
        t = statistics.median(x[0] for x in xs)
        sc = statistics.median(x[1] for x in xs)
        cc = statistics.median(x[2] for x in xs)
        print(f"| {d} | {v} | {n / t:.0f} | {1000 * sc / n:.3f} | {1000 * cc / n:.3f} |")
print("failed runs:", fails)
json.dump({f"{v}-{d}": xs for (v, d), xs in res.items()}, open(f"{W}/../res-{'_'.join(extra) or 'default'}.json", "w"))
for s in servers.values():
    s["proc"].terminate()
    s["proc"].wait()
