# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test stand-ins that speak the real protocols: moto (EC2 over HTTP), the Kubernetes API emulator,
network-namespace SSH hosts. Import as ``ansible_collections.gpu_slicing.eks.tests.support.<module>``."""
