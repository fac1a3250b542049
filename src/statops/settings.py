"""Settings from STATOPS_* environment variables and <workspace>/statops.toml."""

from __future__ import annotations

import getpass
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from statops.errors import InvalidInput

DEFAULT_HOME = "statops-home"
SETTINGS_FILE = "statops.toml"


class Settings(BaseSettings):
    """Everything configurable. Precedence: explicit arguments, environment, statops.toml, defaults."""

    model_config = SettingsConfigDict(env_prefix="STATOPS_", extra="ignore")

    home: Path = Field(default=Path(DEFAULT_HOME), description="workspace folder")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of our store; default SQLite in the workspace"
    )
    mlflow_uri: str | None = Field(
        default=None, description="MLflow tracking/registry URI; default SQLite in the workspace"
    )
    user: str | None = Field(default=None, description="who acts; default the OS user")
    token: SecretStr | None = Field(default=None, description="API token: act as its user (STATOPS_TOKEN)")
    score_chunk_rows: int = Field(default=50_000, gt=0, description="rows per chunk when scoring")
    log_text: bool = Field(default=True, description="keep input text in the prediction log")
    # -- online serving (statops serve) ------------------------------------------------------
    serve_host: str = Field(default="127.0.0.1", description="address statops serve listens on")
    serve_port: int = Field(default=8000, ge=0, le=65535, description="port statops serve listens on")
    serve_workers: int = Field(default=1, ge=1, description="server processes")
    serve_preload: list[str] = Field(default_factory=list,
                                     description="models loaded at start-up (MODEL, MODEL@ALIAS, MODEL/VERSION)")
    serve_max_records: int = Field(default=10_000, gt=0, description="records per predict request")
    serve_max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="request body size limit")
    serve_model_cache_size: int = Field(default=4, gt=0, description="model versions kept loaded (LRU)")
    serve_refresh_seconds: float = Field(default=5.0, gt=0, description="how often aliases are re-resolved")
    serve_batch_wait_ms: float = Field(default=0.0, ge=0,
                                       description="how long a lone request waits for others to share its model call")
    serve_batch_max_records: int = Field(default=256, gt=0,
                                         description="records per shared model call")
    serve_max_connections: int = Field(
        default=1000, gt=0, description="open connections per server process; at the cap the longest idle one "
        "is closed to make room (lowered to fit the open-files limit)")
    serve_header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="time a client has to send a request's headers; a connection that "
        "sends nothing is closed after it")
    serve_body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="time a client has to send a request's body after its headers (else 408)")
    serve_keep_alive_seconds: int = Field(default=5, gt=0,
                                          description="idle time before a keep-alive connection is closed")
    serve_shutdown_seconds: float = Field(
        default=8.0, gt=0, description="longest graceful stop: requests in progress, then the log's last commit")
    serve_metrics_public: bool = Field(
        default=False, description="serve /metrics without an API token (every /v1 route still needs one)")
    # -- prediction log ----------------------------------------------------------------------
    log_batch_rows: int = Field(default=2_000, gt=0, description="rows per prediction-log insert")
    log_flush_seconds: float = Field(default=0.1, gt=0, description="prediction-log write interval")
    log_queue_rows: int = Field(default=200_000, gt=0,
                                description="prediction-log rows held in memory before requests wait")
    log_wait_seconds: float = Field(default=10.0, ge=0,
                                    description="how long a request waits for room in a full log queue")
    log_ready_backlog_rows: int = Field(default=50_000, gt=0,
                                        description="/readyz is not ready while more log rows wait to be committed")
    log_ready_lag_seconds: float = Field(default=2.0, gt=0,
                                         description="/readyz is not ready while log rows have waited longer")
    # -- monitoring (statops monitor; docs/monitoring.md) ---------------------------------------
    monitor_window: str = Field(default="day", description="monitoring window: day, week, month or quarter (a "
                                "production cycle), or a number of records")
    monitor_min_records: int = Field(default=100, gt=1,
                                     description="records a window needs before its distributions are compared")
    monitor_min_labelled: int = Field(default=30, gt=0,
                                      description="records with true codes a window needs for realised accuracy")
    monitor_significance: float = Field(
        default=0.001, gt=0, lt=1, description="p-value under which a shift counts for an alert (10x for a warning); "
        "large effects in tiny windows and tiny effects in huge windows stay ok")
    monitor_auto_share_drop: float = Field(default=0.10, gt=0, le=1,
                                           description="alert when the auto-coded share falls this much below the "
                                           "reference (warn at half)")
    monitor_accuracy_drop: float = Field(default=0.10, gt=0, le=1,
                                         description="alert when estimated accuracy falls this much below the "
                                         "reference (warn at half)")
    monitor_code_shift: float = Field(default=0.2, gt=0, le=1,
                                      description="alert when the predicted-code distribution's Jensen-Shannon "
                                      "distance from the reference reaches this (warn at half)")
    monitor_ks_shift: float = Field(default=0.15, gt=0, le=1,
                                    description="alert when the KS statistic of confidence or text length reaches "
                                    "this (warn at half)")
    monitor_oov_rise: float = Field(default=0.10, gt=0, le=1,
                                    description="alert when the out-of-vocabulary rate rises this much (warn at half)")
    monitor_text_drift_auc: float = Field(default=0.7, gt=0.5, le=1,
                                          description="alert when a classifier tells window texts from reference "
                                          "texts with this ROC AUC (warn at 0.6)")
    monitor_volume_drop: float = Field(default=0.5, gt=0, le=1,
                                       description="alert when a window's volume falls this share below the median "
                                       "of the windows before it (warn at half)")
    monitor_text_sample: int = Field(default=1000, ge=50,
                                     description="texts per side for the text-drift classifier and the vocabulary")
    monitor_webhook_url: str | None = Field(default=None,
                                            description="URL that alerts opened or resolved are POSTed to as JSON")
    monitor_webhook_timeout_seconds: float = Field(default=5.0, gt=0, description="timeout of one webhook call")
    monitor_webhook_retries: int = Field(default=3, ge=0, description="webhook retries, with doubling pauses")
    monitor_schedule_seconds: float = Field(
        default=3600.0, ge=0, description="statops serve computes every model's signals this often (0: never)")
    # -- review queue (statops review; docs/review.md) -----------------------------------------
    review_audit_share: float = Field(default=0.02, ge=0, le=1,
                                      description="share of auto-coded predictions queued for review as an "
                                      "audit sample (chosen from the prediction id: unbiased, reproducible)")
    review_double_share: float = Field(default=0.10, ge=0, le=1,
                                       description="share of review items coded twice, by different coders, "
                                       "to measure agreement")
    review_order: str = Field(default="oldest", pattern="^(oldest|least_confident)$",
                              description="order of review items after audit items: oldest or least_confident")
    review_lock_seconds: float = Field(default=600.0, gt=0,
                                       description="how long an item handed to a coder stays locked to them")
    review_sync_overlap_seconds: float = Field(
        default=300.0, ge=0, description="the review queue re-reads this much of the log before its high-water "
        "mark, for predictions committed late")
    review_sync_seconds: float = Field(default=2.0, ge=0,
                                       description="handing out items reads new predictions from the log at most "
                                       "this often per process (0: on every call)")
    # -- web pages (the coding page; docs/review.md) --------------------------------------------
    web_session_hours: float = Field(default=8.0, gt=0, le=24 * 30,
                                     description="a web sign-in ends this long after it started")
    web_idle_minutes: float = Field(default=30.0, gt=0,
                                    description="a web sign-in ends after this long without use")
    web_secure_cookies: bool = Field(default=False, description="send the session cookie only over HTTPS (set "
                                     "it when statops serve is behind a TLS proxy; HTTPS requests get it anyway)")
    # -- retraining (statops retrain; docs/retraining.md) ---------------------------------------
    retrain_schedule_seconds: float = Field(
        default=0.0, ge=0, description="statops serve retrains models with open alerts on their coded review items "
        "this often, proposing a challenger only when it pays (0: never, the default)")
    retrain_minutes_per_record: float = Field(default=1.0, gt=0,
                                              description="clerical minutes to code one record by hand")
    retrain_cycle_days: float = Field(default=91.0, gt=0,
                                      description="length of a production cycle: the prediction log of the last "
                                      "one gives the volume and the records for the break risk")
    retrain_break_tolerance: float = Field(default=0.01, gt=0, le=1,
                                           description="largest allowed move of a published share (of a code at "
                                           "any level) had the challenger coded the last cycle")
    retrain_horizon_cycles: float = Field(default=4.0, gt=0,
                                          description="cycles over which a challenger's clerical savings are "
                                          "counted against its costs")
    retrain_overhead_hours: float = Field(default=4.0, ge=0,
                                          description="hours of checking and approving a new version")
    retrain_review_items: int = Field(default=5000, gt=0,
                                      description="newest coded review items the champion and challenger are "
                                      "also compared on")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _WorkspaceFileSource(settings_cls))

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def actor(self) -> str:
        """Who acts: STATOPS_USER, else the OS account (environment, then the password database)."""
        return self.user or os_user()


def os_user() -> str:
    """The OS account running statops; never 'unknown' (containers and cron often have no $USER)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no name in the environment and none in the password database
        return f"uid-{os.getuid()}"


class _WorkspaceFileSource(PydanticBaseSettingsSource):
    """Reads <home>/statops.toml, where home comes from the environment or the default."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        # current_state holds what the higher-priority sources (arguments, environment) set.
        home = Path(self.current_state.get("home") or DEFAULT_HOME)
        return read_settings_file(home)


def read_settings_file(home: Path) -> dict[str, Any]:
    """The [statops] table of <home>/statops.toml, or {} when there is none."""
    path = home / SETTINGS_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path} is not valid TOML: {exc}") from exc
    table = data.get("statops", {})
    return {k: v for k, v in table.items() if k != "home"}


def load_settings(home: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings for the workspace at `home` (else STATOPS_HOME, else ./statops-home)."""
    if home is not None:
        overrides["home"] = Path(home)
    return Settings(**overrides)
