"""MiniStack, the default engine: the engine itself, its launcher, its saved state and our work-arounds for its gaps."""

from devkit.engines.ministack.engine import (
    DEFAULT_PORT,
    SAVE_INTERVAL,
    SERVICES,
    MiniStack,
    free_port,
    port_is_free,
)

__all__ = ["DEFAULT_PORT", "SAVE_INTERVAL", "SERVICES", "MiniStack", "free_port", "port_is_free"]
