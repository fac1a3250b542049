"""Request and response bodies of the HTTP API (they are the OpenAPI schemas too)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT_CHARS = 10_000


class Record(BaseModel):
    """One record to code."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"example": {"text": "chartered accountant"}})

    text: str = Field(max_length=MAX_TEXT_CHARS, description="the free-text answer to code")


class PredictRequest(BaseModel):
    """Records to code; at most the configured number per request (default 10,000)."""

    model_config = ConfigDict(json_schema_extra={
        "example": {"records": [{"text": "chartered accountant"}, {"text": "bus driver"}]}})

    records: list[Record] = Field(min_length=1, description="the records, in order")


class ModelVersionInfo(BaseModel):
    """The version that answered, and how it was chosen."""

    name: str
    version: str
    alias: str | None = Field(description="the alias that chose the version, if one did")


class Alternative(BaseModel):
    code: str
    probability: float


class Prediction(BaseModel):
    """The prediction for one record, in the order of the request's records."""

    id: str = Field(description="id of this prediction in the prediction log (for feedback and review)")
    code: str = Field(description="the most likely code")
    title: str = Field(description="the code's title in the classification")
    confidence: float = Field(ge=0, le=1, description="calibrated probability that the code is right")
    decision: str = Field(description="'auto' (confidence at or above the threshold) or 'review'")
    alternatives: list[Alternative] = Field(description="the top five codes with probabilities")


class PredictResponse(BaseModel):
    model: ModelVersionInfo
    predictions: list[Prediction]


class ModelSummary(BaseModel):
    """A registered model."""

    name: str
    versions: int
    latest: str | None
    aliases: dict[str, str]
    task: str | None
    classification: str | None


class ModelList(BaseModel):
    models: list[ModelSummary]


class VersionDetail(BaseModel):
    """One version of a model: aliases, decision threshold, key metrics on its dev data."""

    version: str
    aliases: list[str]
    status: str
    retired: str | None = Field(description="why the version is retired; null when it is in service")
    threshold: float | None
    target_accuracy: float | None
    classification: str | None
    dataset: str | None
    created: str = Field(description="registration time, ISO 8601 UTC")
    run_id: str | None
    metrics: dict[str, float] = Field(description="key metrics from the training run (dev data)")
    tags: dict[str, str]


class ModelDetail(BaseModel):
    name: str
    aliases: dict[str, str]
    serves: str | None = Field(description="the version a bare request for this model gets")
    versions: list[VersionDetail]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str = Field(description="'ready' or 'not ready'")
    checks: dict[str, Any] = Field(description="store, registry and preloaded models, each with its state")


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (media type application/problem+json)."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "type": "about:blank", "title": "Not Found", "status": 404,
        "detail": "unknown model nope; registered models: occupation", "instance": "/v1/models/nope/predict"}})

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="for invalid input: each invalid field ('field') and what is wrong ('message')")
