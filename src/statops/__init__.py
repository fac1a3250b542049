"""statops: MLOps for official statistics."""

from statops.errors import Conflict, Forbidden, InvalidInput, NotFound, StatopsError
from statops.workspace import Workspace, disable_telemetry

__version__ = "0.1.0"

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
