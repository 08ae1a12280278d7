"""The service's answers, described for /openapi.json.

Documentation only: answers are assembled as JSON directly (``relevance.serve.answer``),
not validated against these models on every request. The request side is the input
schema itself (``relevance.io.feed_model.Feed``), checked by the one validator.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from relevance.io.feed_model import Feed


class ScoredItem(BaseModel):
    item_id: str
    title: str
    probability: float = Field(description="the chosen level's calibrated probability")
    p_story: float = Field(description="P(the same story or ongoing event)")
    p_topic: float | None = Field(description="P(this story or a related one); null if the "
                                  "model has the story level only")  # fmt: skip
    relevant: bool = Field(description="probability >= threshold (and rank <= top_k)")
    rank: int = Field(description="1-based rank within the feed by probability")
    label: int | None = Field(None, description="passed through when the input has it")
    grade: int | None = Field(None, description="passed through when the input has it")
    passage: str | None = Field(None, description="with ?explain=1: the article sentence "
                                "the item matched best")  # fmt: skip
    shared: str | None = Field(None, description="with ?explain=1: names and terms item and "
                               "article share, rarest first, comma-separated")  # fmt: skip


class ScoredFeed(BaseModel):
    feed_id: str
    items: list[ScoredItem] = Field(description="in the order of the request")


class ModelBlock(BaseModel):
    id: str = Field(description="the model folder's name @ the first 12 hex digits of sha256")
    sha256: str = Field(description="sha256 of the folder's config.json, which lists every "
                        "file with its sha256")  # fmt: skip
    level: str
    threshold: float
    backend: str


class ScoreAnswer(BaseModel):
    feeds: list[ScoredFeed]
    model: ModelBlock


class ManyFeeds(BaseModel):
    feeds: list[Feed]


class Problem(BaseModel):
    loc: list[str | int] = Field(description='where, e.g. ["body", "feeds", 2, "items", 0, "id"]')
    msg: str
    type: str
    field: str | None = None
    input: object = None
    expected: str | None = None


class ProblemAnswer(BaseModel):
    detail: list[Problem]
    problems: int | None = Field(None, description="how many problems in all (50 are listed)")


class Refusal(BaseModel):
    detail: str
