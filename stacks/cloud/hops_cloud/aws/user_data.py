"""The first-boot script of a datanode: format and mount its encrypted data volume where the
hdfs role keeps blocks (`hdfs_datanode_dirs[0]`), before the playbook creates the directory
tree on it.

The volume is attached as /dev/sdf; Xen types (p3) show it as /dev/xvdf, Nitro types as an
NVMe disk whose model is "Amazon Elastic Block Store" (instance-store disks, which g4dn/g5
have, report "Instance Storage" and are left alone). It is formatted only when blank, so a
re-run or a reboot never wipes data, and mounted by label with `nofail`.
"""

from __future__ import annotations

import shlex

DATA_DEVICE = "/dev/sdf"
DATA_LABEL = "hops-data"

_SCRIPT = """#!/bin/bash
# hops-cloud: mount the encrypted EBS data volume of this datanode at {mount_point}.
set -euo pipefail
mount_point={mount_point_q}
label={label}

data_device() {{
  if [ -b /dev/xvdf ]; then echo /dev/xvdf; return 0; fi
  local root
  root=$(lsblk -no PKNAME "$(findmnt -no SOURCE /)")
  for name in $(lsblk -dno NAME); do
    [ "$name" = "$root" ] && continue
    case "$(cat "/sys/block/$name/device/model" 2>/dev/null || true)" in
      *"Elastic Block Store"*) echo "/dev/$name"; return 0 ;;
    esac
  done
  return 1
}}

device=""
for _ in $(seq 1 60); do
  if device=$(data_device); then break; fi
  sleep 5
done
if [ -z "$device" ]; then
  echo "hops-cloud: data volume not found" >&2
  exit 1
fi
if ! blkid "$device" >/dev/null 2>&1; then
  mkfs.ext4 -q -L "$label" -m 0 "$device"
fi
mkdir -p "$mount_point"
if ! grep -q "^LABEL=$label " /etc/fstab; then
  echo "LABEL=$label $mount_point ext4 defaults,noatime,nofail 0 2" >> /etc/fstab
fi
mountpoint -q "$mount_point" || mount "$mount_point"
"""


def data_volume_user_data(mount_point: str) -> str:
    return _SCRIPT.format(
        mount_point=mount_point, mount_point_q=shlex.quote(mount_point), label=DATA_LABEL
    )
