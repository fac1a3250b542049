"""statops serve."""

from __future__ import annotations

import json
import logging
import os
from typing import Annotated, Any

import typer

from statops.cli.common import HomeOption, console, open_workspace


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default from settings: 127.0.0.1).",
                                             show_default=False)] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings: 8000).", min=0, max=65535,
                                             show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes (default from settings: 1).", min=1,
                                                show_default=False)] = None,
    preload: Annotated[list[str] | None, typer.Option(
        help="Load this model at start-up (MODEL, MODEL@ALIAS or MODEL/VERSION); repeat for more. "
        "/readyz answers 503 until they are loaded.")] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    home: HomeOption = None,
) -> None:
    """Serve every registered model over HTTP: POST /v1/models/NAME/predict, docs at /docs."""
    import uvicorn

    ws = open_workspace(home)  # fails here, with the fix, when there is no workspace
    settings = ws.settings
    ws.close()
    changes = {key: value for key, value in (("serve_host", host), ("serve_port", port),
                                             ("serve_workers", workers), ("serve_preload", preload))
               if value is not None}
    settings = settings.model_copy(update=changes)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    console.print(f"Serving the models of {settings.resolved_home} at "
                  f"http://{settings.serve_host}:{settings.serve_port} (docs at /docs) with "
                  f"{settings.serve_workers} worker(s); prediction log in {ws.store.safe_url}")
    from statops.serving.app import shutdown_budget
    from statops.serving.metrics import PROTOCOL, raise_open_files_limit

    # Room for the connection cap in the open-files limit (each worker inherits it).
    raise_open_files_limit(settings.serve_max_connections)
    options: dict[str, Any] = {
        "host": settings.serve_host, "port": settings.serve_port, "access_log": access_log, "log_level": "info",
        "http": PROTOCOL,  # uvicorn's httptools protocol with read deadlines and the connection cap
        "timeout_keep_alive": settings.serve_keep_alive_seconds,
        "timeout_graceful_shutdown": shutdown_budget(settings)[0],
    }
    if settings.serve_workers == 1:
        from statops.serving import create_app

        uvicorn.run(create_app(settings), **options)
        return
    # Worker processes build their app from the environment: pass them what was chosen here.
    os.environ["STATOPS_HOME"] = str(settings.resolved_home)
    os.environ["STATOPS_SERVE_PRELOAD"] = json.dumps(settings.serve_preload)
    for name in ("database_url", "mlflow_uri"):
        value = getattr(settings, name)
        if value:
            os.environ[f"STATOPS_{name.upper()}"] = value
    uvicorn.run("statops.serving.app:app_from_environment", factory=True, workers=settings.serve_workers,
                **options)


def register(app: typer.Typer) -> None:
    app.command("serve", epilog="Example: statops serve --port 8000 --preload occupation")(serve)
