"""statops: MLOps for official statistics."""

from importlib.metadata import PackageNotFoundError, version

from statops.errors import Conflict, Forbidden, InvalidInput, NotFound, StatopsError
from statops.workspace import Workspace, disable_telemetry

try:
    __version__ = version("statops")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

disable_telemetry()

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "StatopsError",
    "Workspace",
    "__version__",
]
