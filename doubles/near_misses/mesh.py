"""Mesh near misses: a wrong alias for sin, commands for the other platform (or the wrong host)."""

from __future__ import annotations

from dataset.teacher import Teacher
from doubles.near_misses.base import near_miss, stable_pick

BAD_SIN_ALIASES = ["root@sin", "sin.local", "ubuntu@10.0.0.2", "madcat@sin.local"]


@near_miss("mesh.uses_sin_ssh_alias")
class WrongSinAlias(Teacher):
    """Reaches sin by an alias the mesh does not use."""

    def ssh_alias(self, host: str) -> str:
        return stable_pick(self.variant, BAD_SIN_ALIASES) if host == "sin" else host


@near_miss("mesh.platform_command_matches_host")
class WrongPlatform(Teacher):
    """The other platform's commands; a GPU query on the workstation, which has no GPU."""

    def gpu_host(self, host: str) -> str | None:
        return None

    def command_platform(self, host: str) -> str | None:
        platform = super().command_platform(host)
        if platform is None:
            return None
        return "linux" if platform == "macos" else "macos"
