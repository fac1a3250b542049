"""Request and response bodies of the HTTP API (they are the OpenAPI schemas too)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT_CHARS = 10_000
NO_NUL = r"^[^\x00]*$"


class Record(BaseModel):
    """One record to answer (a free-text answer to code, an address to match)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"example": {"text": "chartered accountant"}})

    # No NUL character: no text needs one, and a PostgreSQL store cannot keep it in the log.
    text: str = Field(max_length=MAX_TEXT_CHARS, pattern=NO_NUL,
                      description="the free text: an answer to code, or an address to match "
                                  "(without NUL characters)")


class PredictRequest(BaseModel):
    """Records to code; at most the configured number per request (default 10,000)."""

    model_config = ConfigDict(json_schema_extra={
        "example": {"records": [{"text": "chartered accountant"}, {"text": "bus driver"}]}})

    records: list[Record] = Field(min_length=1, description="the records, in order")


VersionNumber = Annotated[str, Field(pattern=r"^[1-9][0-9]*$", examples=["3"],
                                     description="a version number, as a string (as everywhere in the API)")]


class ModelVersionInfo(BaseModel):
    """The version that answered, and how it was chosen."""

    name: str
    version: VersionNumber
    alias: str | None = Field(description="the alias that chose the version, if one did")


class Alternative(BaseModel):
    """A candidate answer."""

    code: str = Field(description="a code (task coding) or a reference id (task addresses)")
    probability: float = Field(description="the candidate's probability of being the right answer")
    title: str | None = Field(default=None, description="the candidate's words (task addresses: the reference "
                                                        "address); absent where the task gives none")
    score: float | None = Field(default=None, description="the ranker's raw score (task addresses)")


class Prediction(BaseModel):
    """The prediction for one record, in the order of the request's records."""

    id: str = Field(description="id of this prediction in the prediction log (for feedback and review)")
    code: str = Field(description="the answer: the most likely code (task coding), or the id of the best-matching "
                                  "reference address (task addresses); empty when there is none")
    title: str = Field(description="the answer in words: the code's title in the classification, or the "
                                   "reference address")
    confidence: float = Field(ge=0, le=1, description="calibrated probability that the answer is right")
    decision: Literal["auto", "review"] = Field(
        description="'auto' (confidence at or above the threshold: auto-coded, or the match accepted) or 'review'")
    alternatives: list[Alternative] = Field(description="the top candidates, best first, with probabilities")


class PredictResponse(BaseModel):
    model: ModelVersionInfo
    predictions: list[Prediction]


class ModelSummary(BaseModel):
    """A registered model."""

    name: str
    versions: int = Field(ge=0, description="how many versions are registered")
    latest: VersionNumber | None = Field(description="the newest version; null when there is none yet")
    aliases: dict[str, VersionNumber] = Field(description="each alias with the version it names")
    task: str | None = Field(description="the newest version's task (e.g. coding)")
    classification: str | None = Field(description="the newest version's classification (name@version)")


class ModelList(BaseModel):
    models: list[ModelSummary]


class VersionDetail(BaseModel):
    """One version of a model: aliases, decision threshold, key metrics on its dev data."""

    version: VersionNumber
    task: str = Field(description="what the version does (e.g. coding)")
    aliases: list[str] = Field(description="the aliases that name this version")
    status: str
    retired: str | None = Field(description="why the version is retired; null when it is in service")
    threshold: float | None
    target_accuracy: float | None
    classification: str | None
    dataset: str | None
    created: str = Field(description="registration time, ISO 8601 UTC")
    run_id: str | None
    metrics: dict[str, float | None] = Field(
        description="key metrics from the training run (dev data); null where a value is not a finite number")
    tags: dict[str, str]


class ModelDetail(BaseModel):
    name: str
    aliases: dict[str, VersionNumber] = Field(description="each alias with the version it names")
    serves: VersionNumber | None = Field(description="the version a bare request for this model gets")
    versions: list[VersionDetail]


class Health(BaseModel):
    status: Literal["ok"]


class ReadinessChecks(BaseModel):
    """Each check: 'ok', or 'failed: ' and why."""

    store: str
    registry: str
    preloaded: dict[str, str] = Field(description="each preloaded model: 'loading', 'loaded' or 'failed: ...'")
    prediction_log: str


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: ReadinessChecks


class FieldError(BaseModel):
    field: str = Field(description="where, e.g. records[3].text or version")
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (media type application/problem+json)."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "type": "about:blank", "title": "Not Found", "status": 404,
        "detail": "unknown model nope; registered models: occupation", "instance": "/v1/models/nope/predict"}})

    type: str = Field(default="about:blank", description="always about:blank: `title` is the status' phrase")
    title: str = Field(description="the HTTP status' phrase")
    status: int = Field(ge=400, le=599, description="the HTTP status")
    detail: str = Field(description="what is wrong and, where there is one, the fix")
    instance: str | None = Field(default=None, description="the request's path")
    errors: list[FieldError] | None = Field(
        default=None, description="for invalid input (422): each invalid field and what is wrong with it")


class NotReady(Problem):
    """/readyz when not ready: a problem with the state of each check."""

    checks: ReadinessChecks
