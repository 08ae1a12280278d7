"""Two levels of relevance from one ordinal head: topic first, then story within topic.

Grades are ordered: 0 off-topic < 1 a related story < 2 the same story. The head
is a continuation-ratio model with two logistic stages:

    p_topic = P(grade >= 1)            fitted on every graded item
    p_story = p_topic * P(grade = 2 | grade >= 1)   the second stage on topical items only

so ``p_topic >= p_story`` holds by construction, and the second stage spends all its
capacity on the hard question (same event, or a look-alike?). Each stage has its own
calibrator. Data with ``label`` only has one level: a single stage for ``p_story``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from relevance.io.schema import GRADE, LABEL
from relevance.model.calibration import Calibrator
from relevance.model.head import LogisticHead

LEVELS = ("story", "topic")
#: Stages of a graded model: (name, rows it is fitted on, target), in evaluation order.
GRADED_STAGES = ("topic", "story_given_topic")
LABEL_STAGES = ("story",)


class LevelError(ValueError):
    """A level the model does not have (or no such level): the CLI exits 2 on it."""


@dataclass(frozen=True)
class Targets:
    """What a table's labels say: grades (both levels) or story labels (one level)."""

    grade: np.ndarray | None  # 0/1/2 per row, or None for label-only data
    story: np.ndarray  # 1 where the item is the same story

    @property
    def levels(self) -> tuple[str, ...]:
        return LEVELS if self.grade is not None else ("story",)

    @property
    def stages(self) -> tuple[str, ...]:
        return GRADED_STAGES if self.grade is not None else LABEL_STAGES

    def subset(self, rows: np.ndarray) -> Targets:
        return Targets(None if self.grade is None else self.grade[rows], self.story[rows])

    def of_level(self, level: str) -> np.ndarray:
        if level == "story":
            return self.story
        if self.grade is None:
            raise ValueError("the topic level needs graded data (grade 0/1/2)")
        return (self.grade >= 1).astype(np.int64)

    def stage(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows mask the stage is fitted on, its 0/1 target) for every row."""
        everything = np.ones(len(self.story), dtype=bool)
        if name == "story":
            return everything, self.story
        if self.grade is None:
            raise ValueError(f"stage {name!r} needs graded data (grade 0/1/2)")
        if name == "topic":
            return everything, (self.grade >= 1).astype(np.int64)
        return self.grade >= 1, (self.grade == 2).astype(np.int64)


def targets(frame: pd.DataFrame) -> Targets:
    """Grades when the table has them on every row, else story labels.

    The readers have already checked values (0/1/2, 0/1) and that a row's label and grade
    agree; training refuses a mix of graded and label-only rows before any work.
    """
    if GRADE in frame.columns and frame[GRADE].notna().all():
        grade = frame[GRADE].to_numpy(dtype=np.int64)
        return Targets(grade, (grade == 2).astype(np.int64))
    return Targets(None, frame[LABEL].to_numpy(dtype=np.int64))


def compose(stage_p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Level probabilities from calibrated stage probabilities."""
    if "story" in stage_p:
        return {"story": stage_p["story"]}
    topic = stage_p["topic"]
    return {"topic": topic, "story": topic * stage_p["story_given_topic"]}


@dataclass
class LevelHead:
    """The fitted stages: a logistic head and its calibrator each."""

    heads: dict[str, LogisticHead]
    calibrators: dict[str, Calibrator]

    @property
    def levels(self) -> tuple[str, ...]:
        return ("story",) if "story" in self.heads else LEVELS

    def logits(self, X: np.ndarray) -> dict[str, np.ndarray]:
        return {name: head.decision_function(X) for name, head in self.heads.items()}

    def probabilities(self, X: np.ndarray, length: np.ndarray) -> dict[str, np.ndarray]:
        """Level -> calibrated probability per row (``length``: article longness per row)."""
        stage_p = {
            name: self.calibrators[name].predict(z, length) for name, z in self.logits(X).items()
        }
        return compose(stage_p)

    def to_json(self) -> dict:
        return {
            "kind": "continuation_ratio",
            "stages": {
                name: {"head": self.heads[name].to_json(), "calibrator": c.to_json()}
                for name, c in self.calibrators.items()
            },
        }

    @classmethod
    def from_json(cls, state: dict, n_features: int) -> LevelHead:
        if not isinstance(state, dict) or state.get("kind") != "continuation_ratio":
            raise ValueError("head: expected kind 'continuation_ratio'")
        stages = state.get("stages")
        if not isinstance(stages, dict) or set(stages) not in (
            set(GRADED_STAGES),
            set(LABEL_STAGES),
        ):
            raise ValueError(
                f"head stages {sorted(stages) if isinstance(stages, dict) else stages!r}, "
                f"expected {list(GRADED_STAGES)} or {list(LABEL_STAGES)}"
            )
        heads, cals = {}, {}
        for name in GRADED_STAGES if "topic" in stages else LABEL_STAGES:
            heads[name] = LogisticHead.from_json(stages[name]["head"], n_features)
            cals[name] = Calibrator.from_json(stages[name]["calibrator"])
        return cls(heads, cals)


def class_probabilities(levels: dict[str, np.ndarray]) -> np.ndarray:
    """scikit-learn's ``predict_proba``: one column per class of ``classes_``.

    Graded: P(grade 0), P(grade 1), P(grade 2). Label-only: P(label 0), P(label 1).
    """
    story = levels["story"]
    if "topic" not in levels:
        return np.column_stack([1.0 - story, story])
    topic = levels["topic"]
    return np.column_stack([1.0 - topic, topic - story, story])


__all__ = [
    "GRADED_STAGES",
    "LevelError",
    "LABEL_STAGES",
    "LEVELS",
    "LevelHead",
    "Targets",
    "class_probabilities",
    "compose",
    "targets",
]
