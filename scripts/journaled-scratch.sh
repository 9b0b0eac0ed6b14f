#!/usr/bin/env bash
# A journaled ext4 scratch file system for kftp-bench's --work-dir (BENCHMARKS.md, session
# 11, "Small-file uploads and the file system's journal").
#
# The development VMs' root file system is ext4 without a journal. There ext4 skips every
# free inode deleted in the last 30 seconds when it allocates one, reading its inode-table
# block each time (fs/ext4/ialloc.c, find_inode_bit -> recently_deleted), and the bench
# deletes each rep's 2,000 uploads just before the next: every server's small-file upload
# then pays a scan that grows with what was deleted (30-40 % of kftpd's samples). Servers
# people run write to journaled file systems, where that check is off.
#
#   sudo scripts/journaled-scratch.sh [DIR] [SIZE]    # default /mnt/kftp-scratch 8G
#   kftp-bench --work-dir /mnt/kftp-scratch/w ...
#   sudo scripts/journaled-scratch.sh --remove [DIR]
#
# The image lives beside the mount point (DIR.img) on the file system it is made on; it is
# sparse and grows with what the bench writes. Its loop device reads and writes the image
# with direct I/O, so pages are not cached twice (once by this file system, once as the
# image file's): with plain `mount -o loop` a full users' table filled the page cache and
# 5 GiB of direct reclaim landed on whichever process was allocating. Needs root (losetup,
# mount) and e2fsprogs.
set -euo pipefail

if [ "${1:-}" = "--remove" ]; then
  dir=${2:-/mnt/kftp-scratch}
  dev=$(findmnt -n -o SOURCE "$dir" 2>/dev/null || true)
  umount "$dir" 2>/dev/null || true
  case "$dev" in /dev/loop*) losetup -d "$dev" 2>/dev/null || true ;; esac
  rm -f "$dir.img"
  rmdir "$dir" 2>/dev/null || true
  exit 0
fi

dir=${1:-/mnt/kftp-scratch}
size=${2:-8G}
if mountpoint -q "$dir"; then
  echo "$dir is mounted already"
  exit 0
fi
mkdir -p "$dir"
truncate -s "$size" "$dir.img"
mkfs.ext4 -q -F -O has_journal "$dir.img"
dev=$(losetup -f --show --direct-io=on "$dir.img")
mount "$dev" "$dir"
echo "journaled ext4 on $dir ($dev, direct I/O to $dir.img, $size); use --work-dir $dir/w"
