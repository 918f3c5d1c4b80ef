# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every boot file the mig_partition role installs belongs to mig_partition_boot_owner/group.

`make demo` as a normal user logs in to its simulated nodes as that user (mig_partition_boot_owner = the user): a
boot file with a hard-coded `owner: root` fails there with "chown failed" (it did for the applier). The real
`ansible-playbook` runs the role's boot.yml on localhost with an owner other than the account running the test, so a
literal root owner shows as a wrong owner here too (CI runs as root, where the chown itself cannot fail).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import json
import os
import pwd
import subprocess
import sys

import pytest

from ansible_collections.gpu_slicing.eks.tests.support import collections_root

PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Install the boot files
      ansible.builtin.include_role:
        name: gpu_slicing.eks.mig_partition
        tasks_from: boot.yml
"""


def _other_account():
    """(user, group) that differ from the account running the test, or None."""
    me = os.getuid()
    for name in ("nobody", "daemon"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        if user.pw_uid != me:
            return name, grp.getgrgid(user.pw_gid).gr_name
    return None


@pytest.mark.skipif(os.getuid() != 0 or _other_account() is None, reason="giving files to another user needs root")
def test_boot_files_belong_to_the_boot_owner(tmp_path):
    user, group = _other_account()
    variables = {
        "mig_partition_become": False,
        "mig_partition_boot_enable": False,
        "mig_partition_boot_owner": user,
        "mig_partition_boot_group": group,
        "mig_partition_boot_unit_dir": str(tmp_path / "systemd"),
        "mig_partition_boot_script_path": str(tmp_path / "sbin" / "gpu-slicing-mig-apply"),
        "mig_partition_persist_path": str(tmp_path / "etc" / "mig-layout.yaml"),
        "mig_partition_config": "all-1g.10gb",
    }
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_NOCOLOR="1", HOME=str(tmp_path),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-i", "localhost,", str(tmp_path / "site.yml"),
                           "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "@%s" % (tmp_path / "vars.json")],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    paths = [tmp_path / "systemd", tmp_path / "sbin", tmp_path / "systemd" / "gpu-slicing-mig.service",
             tmp_path / "sbin" / "gpu-slicing-mig-apply", tmp_path / "sbin" / "gpu-slicing-mig-apply.py"]
    owners = dict((str(p.relative_to(tmp_path)), (pwd.getpwuid(p.stat().st_uid).pw_name, grp.getgrgid(p.stat().st_gid).gr_name))
                  for p in paths)
    assert owners == dict((k, (user, group)) for k in owners)
