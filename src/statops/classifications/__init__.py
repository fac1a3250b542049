"""Classification structures: codes, levels, titles, versions."""

from statops.classifications.catalogue import (
    add_classification,
    get_classification,
    list_classifications,
)
from statops.classifications.hierarchy import Hierarchy

__all__ = ["Hierarchy", "add_classification", "get_classification", "list_classifications"]
