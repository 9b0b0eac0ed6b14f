#!/usr/bin/env python3
"""What an upload's part file costs the file system (BENCHMARKS.md, session 12).

Creates N files of 4 KiB in DIR three ways and prints the process CPU per file: written
under the final name; written to a part file renamed into place (what kftpd does); an
O_TMPFILE in the directory linked into place through /proc/self/fd. Run it on the file
system in question (scripts/journaled-scratch.sh makes a journaled ext4):

    python3 scripts/part-file-cost.py /mnt/kftp-scratch/fsb [N] [ROUNDS]
"""
import os
import resource
import shutil
import sys


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(kind, path, n, data):
    os.makedirs(path, exist_ok=True)
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    start = cpu()
    for i in range(n):
        name = f"f{i}"
        if kind == "final name":
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640, dir_fd=dfd)
            os.pwrite(fd, data, 0)
        elif kind == "part + rename":
            part = f".{name}.part"
            fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o640, dir_fd=dfd)
            os.pwrite(fd, data, 0)
            os.rename(part, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        else:
            fd = os.open(".", os.O_WRONLY | os.O_TMPFILE, 0o640, dir_fd=dfd)
            os.pwrite(fd, data, 0)
            os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=dfd, follow_symlinks=True)
        os.close(fd)
    per_file = (cpu() - start) / n * 1e6
    os.close(dfd)
    return per_file


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 4000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    data = os.urandom(4096)
    for r in range(rounds):
        for kind in ("final name", "part + rename", "O_TMPFILE + linkat"):
            path = os.path.join(root, f"round{r}")
            us = run(kind, path, n, data)
            shutil.rmtree(path)
            os.sync()
            print(f"round {r}: {kind}: {us:.1f} us/file")


if __name__ == "__main__":
    main()
