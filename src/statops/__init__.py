"""statops: MLOps for official statistics."""

import warnings

from statops.errors import Conflict, Forbidden, InvalidInput, NotFound, StatopsError
from statops.workspace import Workspace, disable_telemetry

__version__ = "0.1.0"

disable_telemetry()
# MLflow warns, as its pyfunc module loads, that predict methods lack type hints; statops models
# carry an explicit signature instead.
warnings.filterwarnings("ignore", message=r".*type hints to the `predict` method", category=UserWarning)

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "StatopsError",
    "Workspace",
    "__version__",
]
