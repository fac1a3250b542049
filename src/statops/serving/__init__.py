"""Serving: the HTTP API (`create_app`) and batch scoring of files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from statops.serving.app import create_app


def __getattr__(name: str) -> Any:
    # Imported on first use, so that batch scoring and the CLI do not load the web stack.
    if name == "create_app":
        from statops.serving.app import create_app

        return create_app
    raise AttributeError(name)


__all__ = ["create_app"]
