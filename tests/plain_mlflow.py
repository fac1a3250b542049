"""A registered version's pyfunc model, loaded and run by plain MLflow in a Python process of its own, as
someone without statops's glue would (no statops import in that process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from statops import Workspace


def predict_in_plain_python(ws: Workspace, model: str, version: str, texts: pd.Series, folder: Path) -> pd.DataFrame:
    """`mlflow.pyfunc.load_model('models:/MODEL/VERSION').predict` of `texts`, in a new process."""
    pd.DataFrame({"text": texts}).to_csv(folder / "in.csv", index=False)
    script = (
        "import mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({ws.mlflow_uri!r})\n"
        f"m = mlflow.pyfunc.load_model('models:/{model}/{version}')\n"
        f"df = pd.read_csv({str(folder / 'in.csv')!r}, dtype=str, keep_default_na=False)\n"
        f"m.predict(df).to_json({str(folder / 'out.json')!r}, orient='records')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300, cwd=folder)
    return pd.DataFrame(json.loads((folder / "out.json").read_text()))
