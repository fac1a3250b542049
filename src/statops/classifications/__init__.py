"""Classification structures: codes, levels, titles, versions."""

from statops.classifications.catalogue import (
    ClassificationInfo,
    add_classification,
    get_classification,
    list_classifications,
)
from statops.classifications.hierarchy import Hierarchy

__all__ = ["ClassificationInfo", "Hierarchy", "add_classification", "get_classification", "list_classifications"]
