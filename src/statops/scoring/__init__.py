"""Scoring: one predict-and-log path for files, the HTTP API and the demo. Versions are resolved and
loaded through one bounded cache; predictions go to the prediction log, which monitoring and review
read from here (never through the HTTP package)."""

from statops.scoring.batch import CodedFile, ScoreSummary, code_file, score_file
from statops.scoring.cache import ModelCache, route_key
from statops.scoring.predict import Columns, predict_columns
from statops.scoring.prediction_log import (
    PredictionLogWriter,
    count_predictions,
    new_id,
    prediction_rows,
    read_predictions,
    write_rows,
)

__all__ = [
    "CodedFile", "Columns", "ModelCache", "PredictionLogWriter", "ScoreSummary", "code_file", "count_predictions",
    "new_id", "predict_columns", "prediction_rows", "read_predictions", "route_key", "score_file", "write_rows",
]
