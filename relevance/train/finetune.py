"""Fine-tune the MiniLM embedder on (article, relevant item) pairs, and measure if it helps.

Uses sentence-transformers' own trainer with MultipleNegativesRankingLoss: the
other items of a batch are the negatives, so only relevant pairs are needed.
The weights are stored as fp16 safetensors (half the size) and always loaded
back as fp32, and the head is fitted on the embeddings of that stored copy, so
training and scoring see the very same vectors.

Whether fine-tuning helped is measured on stories the tuned embedder never saw:
a fixed share of the groups is held out, the embedder is tuned on the rest,
and a head on tuned and on frozen embeddings is scored on the held-out feeds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from relevance.embed.encoder import DEFAULT_MAX_TOKENS, Embedder, SentenceTransformerEmbedder
from relevance.io.schema import LABEL
from relevance.io.text import feed_texts
from relevance.model.estimator import RelevanceModel
from relevance.model.metrics import paired_bootstrap_delta
from relevance.train.checks import DataCheckError, check_folds
from relevance.train.compare import summarise

log = logging.getLogger("relevance.train")

#: Share of groups (stories) held out to judge fine-tuning; same rule as benchmarks/.
HELDOUT_FRACTION = 0.25
WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class FinetuneSettings:
    """Trainer settings; recorded in config.json so a run can be repeated."""

    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup: float = 0.1  # share of the steps with linear warm-up
    max_steps: int = -1  # > 0 caps the steps (smoke tests)
    seed: int = 0
    max_tokens: int = DEFAULT_MAX_TOKENS

    def to_json(self) -> dict:
        return asdict(self)


def training_pairs(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(article text, relevant item text) per relevant row, in data order, each pair once."""
    texts = feed_texts(frame)
    articles = dict(zip(texts.feed_ids, texts.articles, strict=True))
    pairs: dict[tuple[str, str], None] = {}
    relevant = (frame[LABEL].astype(int) == 1).to_numpy()
    for fid, item, keep in zip(frame["feed_id"], texts.items, relevant, strict=True):
        if keep:
            pairs.setdefault((articles[fid], item), None)
    return [a for a, _ in pairs], [p for _, p in pairs]


def to_fp16(folder: Path) -> None:
    """Rewrite the weights as fp16; config.json keeps dtype float32 so loading upcasts."""
    from safetensors.torch import load_file, save_file

    path = folder / WEIGHTS
    tensors = load_file(path)
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    save_file(half, path, metadata={"format": "pt"})
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["dtype"] = "float32"
    config.pop("torch_dtype", None)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def finetune_sentence_transformer(
    anchors: Sequence[str],
    positives: Sequence[str],
    folder: Path,
    settings: FinetuneSettings,
    base: str | Path,
) -> None:
    """Train on the pairs on the CPU and save a full sentence-transformers folder (fp16).

    transformers' own bars and logs are silenced for the run and restored after it.
    """
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        _finetune(anchors, positives, folder, settings, base)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _finetune(
    anchors: Sequence[str],
    positives: Sequence[str],
    folder: Path,
    settings: FinetuneSettings,
    base: str | Path,
) -> None:
    import torch
    import transformers
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers.trainer_callback import PrinterCallback

    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    transformers.set_seed(settings.seed)
    model = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    model.max_seq_length = settings.max_tokens
    dataset = Dataset.from_dict({"anchor": list(anchors), "positive": list(positives)})
    with tempfile.TemporaryDirectory(prefix="relevance-finetune-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps,
            per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            warmup_steps=settings.warmup,
            seed=settings.seed,
            data_seed=settings.seed,
            use_cpu=True,
            report_to="none",
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            dataloader_num_workers=0,
            # An article with several relevant items must not meet itself as a negative.
            batch_sampler=BatchSamplers.NO_DUPLICATES,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            loss=MultipleNegativesRankingLoss(model),
        )
        trainer.remove_callback(PrinterCallback)  # it prints the final log dict to stdout
        result = trainer.train()
    log.info(
        "fine-tuned on %d pairs: %d steps, training loss %.3f",
        len(anchors),
        result.global_step,
        result.training_loss,
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save(str(folder), create_model_card=False)
    to_fp16(folder)


class Finetuner(Protocol):
    """Tunes an embedder into a folder and loads it back (a fake one in unit tests)."""

    base_id: str

    def tune(
        self, anchors: Sequence[str], positives: Sequence[str], folder: Path, s: FinetuneSettings
    ) -> None: ...

    def load(self, folder: Path) -> Embedder: ...


class MiniLMFinetuner:
    """The packaged all-MiniLM-L6-v2, tuned with sentence-transformers."""

    def __init__(self, base: Embedder | None = None) -> None:
        self.base = base or SentenceTransformerEmbedder()
        self.base_id = self.base.model_id
        self.base_path = getattr(self.base, "path", None)
        if self.base_path is None:
            raise ValueError(f"embedder {self.base_id!r} has no local folder to fine-tune")

    def tune(
        self, anchors: Sequence[str], positives: Sequence[str], folder: Path, s: FinetuneSettings
    ) -> None:
        finetune_sentence_transformer(anchors, positives, folder, s, self.base_path)

    def load(self, folder: Path) -> Embedder:
        return SentenceTransformerEmbedder(folder, max_tokens=self.base.max_tokens)


def heldout_mask(groups: np.ndarray, fraction: float = HELDOUT_FRACTION) -> np.ndarray:
    """Rows of the held-out groups: the first ``fraction`` of groups in sha256 order.

    Fixed by the group names alone (not the seed or file order), like
    benchmarks/heldout_eval.py, so the figures are comparable across runs.
    """
    names = sorted({str(g) for g in groups}, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    held = set(names[: math.ceil(fraction * len(names))])
    return np.array([str(g) in held for g in groups])


def check_heldout(y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> None:
    """The split must leave both classes on each side and enough groups to cross-validate."""
    held = heldout_mask(groups)
    if len(np.unique(y[held])) < 2:
        raise DataCheckError(
            "--finetune-embedder: the held-out stories (the first "
            f"{HELDOUT_FRACTION:.0%} of groups by sha256) have one class only; "
            "add data or group differently"
        )
    try:
        check_folds(y[~held], groups[~held], n_splits, seed)
    except DataCheckError as exc:
        raise DataCheckError(f"--finetune-embedder: in the non-held-out part: {exc}") from None


def heldout_comparison(
    frame: pd.DataFrame,
    groups: np.ndarray,
    frozen: Embedder,
    finetuner: Finetuner,
    settings: FinetuneSettings,
    params: dict,
    wrap: Callable[[Embedder], Embedder],
) -> dict:
    """Tune on the non-held-out stories; score held-out feeds with tuned vs frozen embeddings."""
    held = heldout_mask(groups)
    train = frame[~held].reset_index(drop=True)
    test = frame[held].reset_index(drop=True)
    anchors, positives = training_pairs(train)
    log.info(
        "held-out check: tuning on %d pairs from %d groups; %d held-out groups, %d feeds",
        len(anchors),
        len(np.unique(groups[~held])),
        len(np.unique(groups[held])),
        test["feed_id"].nunique(),
    )
    y = test[LABEL].to_numpy(dtype=np.int64)
    feed = test["feed_id"].to_numpy()
    seed = int(params.get("random_state", 0))
    with tempfile.TemporaryDirectory(prefix="relevance-heldout-") as scratch:
        folder = Path(scratch) / "embedder"
        finetuner.tune(anchors, positives, folder, settings)
        tuned = finetuner.load(folder)
        tuned_sha = tuned.fingerprint
        scores, systems = {}, {}
        for name, embedder in (("frozen", frozen), ("finetuned", wrap(tuned))):
            model = RelevanceModel(embedder=embedder, **params).fit(train, groups=groups[~held])
            scores[name] = model.relevance(test)
            systems[name] = summarise(y, scores[name], feed, model.threshold_, seed)
    delta = paired_bootstrap_delta(
        y, scores["finetuned"], scores["frozen"], feed, "average_precision", seed=seed
    )
    lo, hi = delta["ci95"]
    verdict = "helped" if lo > 0 else "hurt" if hi < 0 else "no clear difference"
    return {
        "split": {
            "rule": f"first {HELDOUT_FRACTION:.0%} of groups in sha256 order of their names",
            "n_groups_train": int(len(np.unique(groups[~held]))),
            "n_groups_heldout": int(len(np.unique(groups[held]))),
            "n_feeds_heldout": int(test["feed_id"].nunique()),
            "n_items_heldout": int(len(test)),
            "n_relevant_heldout": int(y.sum()),
        },
        "n_pairs": len(anchors),
        "tuned_embedder_sha256": tuned_sha,
        "systems": systems,
        "delta_average_precision": delta,
        "verdict": verdict,
    }


def heldout_summary(heldout: dict) -> str:
    """One line for a person: the held-out AP of both embedders, the delta and the verdict."""
    d = heldout["delta_average_precision"]
    tuned, frozen = (
        heldout["systems"][k]["metrics"]["average_precision"] for k in ("finetuned", "frozen")
    )
    return (
        f"AP fine-tuned {tuned:.4f} vs frozen {frozen:.4f}, delta {d['delta']:+.4f} "
        f"(95% CI {d['ci95'][0]:+.4f} to {d['ci95'][1]:+.4f}): {heldout['verdict']}"
    )
