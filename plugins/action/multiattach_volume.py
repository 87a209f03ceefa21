# -*- coding: utf-8 -*-
# Copyright: cinder.multiattach maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the multiattach_volume module's Go binary from the target's module cache."""

from __future__ import annotations

from ansible_collections.cinder.multiattach.plugins.plugin_utils.go_module import CONTROLLER_PLATFORMS, GoModuleAction


class ActionModule(GoModuleAction):
    MODULE = "multiattach_volume"
    BINARY = "openstack"
    PLATFORMS = CONTROLLER_PLATFORMS
