"""Dataset catalogue: ingest CSV/Parquet/Excel into validated, content-hashed Parquet snapshots."""

from statops.data.catalogue import (
    DatasetInfo,
    add_dataset,
    get_dataset,
    label_summary,
    list_datasets,
    load_dataset,
)

__all__ = ["DatasetInfo", "add_dataset", "get_dataset", "label_summary", "list_datasets", "load_dataset"]
