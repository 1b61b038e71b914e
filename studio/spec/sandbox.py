"""The sandbox part of the team spec: limits on the code the coder runs, and the switch to turn execution off.

Kept apart from ``studio.spec.team`` (which re-exports it) so the sandbox can read its
settings without importing the whole spec.

Example:
    >>> SandboxSpec().timeout_s
    10.0
    >>> SandboxSpec(enabled=False).enabled
    False
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SandboxSpec"]


class SandboxSpec(BaseModel):
    """How model-written code is run: every limit applies to one execution.

    The defaults suit a laptop: a test run of a small function takes well
    under a second and a few MB, so these limits only stop code that runs away.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Run the coder's code (and its tests) in the sandbox; ``false`` turns execution off."""
    timeout_s: float = Field(10.0, gt=0, le=3600)
    """Wall-clock limit; when it passes, every process the code started is killed."""
    cpu_s: int = Field(10, ge=1, le=3600)
    """CPU seconds per process."""
    memory_mb: int = Field(512, ge=32, le=65536)
    """Address space per process, in MiB."""
    file_size_mb: int = Field(16, ge=1, le=4096)
    """Largest file the code may write, in MiB (its output files included)."""
    open_files: int = Field(64, ge=16, le=4096)
    """Open file descriptors per process."""
    processes: int = Field(32, ge=1, le=4096)
    """Processes and threads the code may have at once."""
    disk_mb: int = Field(64, ge=1, le=65536)
    """Disk space for the workspace, in MiB: the code writes into a size-limited tmpfs (memory, not the
    host disk) holding a copy of its files, and everything it wrote there is gone when the run ends."""
    max_output_kb: int = Field(16, ge=1, le=4096)
    """Stdout and stderr kept per stream, in KiB; the middle of longer output is cut with a marker."""
    network: bool = False
    """Let the code reach the network; by default it gets none (where the OS allows cutting it off)."""
    site_packages: bool = False
    """Let the code import the packages installed next to Huddle; by default only the standard library."""
    require_isolation: bool = False
    """Refuse to run code when the filesystem or network cannot be isolated on this machine."""
    max_attempts: int = Field(3, ge=1, le=20)
    """Executions per coder step: a failing result goes back to the coder until this many were tried."""
