"""The lab: N real systemd "hosts" on this machine, as systemd-nspawn containers, that the
real playbook (and the pyinfra deploy) target over SSH through `inventories/lab/hosts.yml`.

Why containers and not VMs: root on any Linux box can boot several full systemd hosts in a
few seconds with no hypervisor (no KVM is needed), so the roles are tested against real
systemd, real apt and real SSH on every CI run. See docs in `lifecycle.py` for the steps.

Modules, one job each:

- `prereqs`    root check and the Debian packages the lab needs (installed when missing)
- `rootfs`     the Debian root filesystem: debootstrap once, cached as a tarball
- `network`    the bridge and its private /24, address allocation
- `sshkeys`    the lab's SSH key and the ssh command line that uses it
- `hosts`      one host: overlay, identity files, boot under the supervisor, wait for SSH
- `supervisor` restarts systemd-nspawn when the guest reboots (exit code 133)
- `locks`      one process at a time on a cached tree (rootfs, the tests' wheelhouse)
- `processes`  detached daemons identified by pid + start time, stopped TERM-then-KILL
- `aptproxy`   apt-cacher-ng on the bridge address: Debian packages for the hosts
- `wheelhouse` a directory of wheels served on the bridge address: Python packages
- `inventory`  the Ansible YAML inventory of the lab
- `state`      the JSON state file, so `status`/`down` work from another process
- `lifecycle`  `up`, `status` and `down`, built from the above
- `add`        one more host for a lab that is up (`scale.yml`'s test bed)
- `cli`        the `hops-lab` Typer commands
"""

from __future__ import annotations


class LabError(RuntimeError):
    """A lab step failed; the message says what to do about it."""
