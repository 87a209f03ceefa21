# -*- coding: utf-8 -*-
# Copyright: cinder.multiattach maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the cluster_state module's Go binary from the target's module cache."""

from __future__ import annotations

from ansible_collections.cinder.multiattach.plugins.plugin_utils.go_module import NODE_PLATFORMS, GoModuleAction


class ActionModule(GoModuleAction):
    MODULE = "cluster_state"
    BINARY = "clusterfs"
    PLATFORMS = NODE_PLATFORMS
