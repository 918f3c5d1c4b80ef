# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the offline stand-in for ansible-test's get-pip bootstrap script.

`ansible-test ... --venv` bootstraps pip in every venv it makes by downloading
https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py unless
~/.ansible/test/cache/get_pip_<version>.py exists. That host is not reachable here; PyPI is. The
stand-in runs `ensurepip`, then `pip install` with the arguments ansible-test passes (e.g.
`pip==24.2`), dropping the two get-pip-only flags. Run it with the Python that runs ansible-test;
it reads the pip version that ansible-test pins.
"""

from __future__ import annotations

import os
import re
import sys

import ansible_test

STANDIN = '''\
# Offline stand-in for get-pip.py, written by hacking/ansible_test_bootstrap.py (gpu_slicing.eks).
import subprocess
import sys

GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY])
'''


def pinned_pip_version():
    path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    with open(path, encoding="utf-8") as handle:
        match = re.search(r"\bpip='([0-9.]+)'", handle.read())
    if not match:
        raise SystemExit("cannot find the pip version ansible-test pins in %s" % path)
    return match.group(1)


def main():
    version = pinned_pip_version()
    cache = os.path.expanduser("~/.ansible/test/cache")
    target = os.path.join(cache, "get_pip_%s.py" % version.replace(".", "_"))
    os.makedirs(cache, exist_ok=True)
    if os.path.exists(target):
        with open(target, encoding="utf-8") as handle:
            if handle.read() == STANDIN:
                print("ansible-test pip bootstrap stand-in up to date: %s" % target)
                return 0
            print("replacing %s" % target)
    with open(target + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(STANDIN)
    os.replace(target + ".tmp", target)
    print("wrote ansible-test pip %s bootstrap stand-in: %s" % (version, target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
