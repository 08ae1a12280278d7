"""Fine-tune the MiniLM embedder on (article, same-story item) pairs, and measure if it helps.

Uses sentence-transformers' own trainer with MultipleNegativesRankingLoss: the
other items of a batch are the negatives. With graded data each pair also gets a
hard negative from its own feed: a related story (grade 1) when the feed has one,
else an off-topic item of the feed. Related stories are exactly what the story
level must tell apart, and in-batch negatives almost never are.
The weights are stored as fp16 safetensors (half the size) and always loaded
back as fp32, and the head is fitted on the embeddings of that stored copy, so
training and scoring see the very same vectors.
Whether fine-tuning helped is measured in ``relevance.train.heldout``.
"""

from __future__ import annotations

import json
import logging
import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from relevance.embed.encoder import DEFAULT_MAX_TOKENS, Embedder, SentenceTransformerEmbedder
from relevance.io.text import feed_texts
from relevance.model.levels import targets

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


@dataclass(frozen=True)
class Examples:
    """Fine-tuning examples: anchors (articles), positives, and hard negatives if graded."""

    anchors: list[str]
    positives: list[str]
    negatives: list[str] | None = None

    def __len__(self) -> int:
        return len(self.anchors)


def training_examples(frame: pd.DataFrame) -> Examples:
    """One example per same-story row (each (article, item) pair once), in data order.

    Graded data: the k-th pair of a feed gets the feed's k-th related item (cycling)
    as its hard negative, or its k-th off-topic item when the feed has no related one;
    a pair whose feed has neither is left out.
    """
    texts = feed_texts(frame)
    t = targets(frame)
    grade = t.grade if t.grade is not None else 2 * t.story
    codes, _ = pd.factorize(frame["feed_id"], sort=False)
    seen: dict[tuple[str, str], None] = {}
    anchors, positives, negatives = [], [], []
    for f in range(len(texts.articles)):
        rows = np.flatnonzero(codes == f)
        related = [texts.items[i] for i in rows if grade[i] == 1]
        other = [texts.items[i] for i in rows if grade[i] == 0]
        pool = related or other
        k = 0
        for i in rows[grade[rows] == 2]:
            pair = (texts.articles[f], texts.items[i])
            if pair in seen or (t.grade is not None and not pool):
                continue
            seen[pair] = None
            anchors.append(pair[0])
            positives.append(pair[1])
            if t.grade is not None:
                negatives.append(pool[k % len(pool)])
            k += 1
    return Examples(anchors, positives, negatives if t.grade is not None else None)


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
    examples: Examples,
    folder: Path,
    settings: FinetuneSettings,
    base: str | Path,
) -> None:
    """Train on the examples on the CPU and save a full sentence-transformers folder (fp16).

    transformers' own bars and logs are silenced for the run and restored after it.
    """
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        _finetune(examples, folder, settings, base)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _finetune(
    examples: Examples,
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
    columns = {"anchor": examples.anchors, "positive": examples.positives}
    if examples.negatives is not None:
        columns["negative"] = examples.negatives
    dataset = Dataset.from_dict(columns)
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
        "fine-tuned on %d examples: %d steps, training loss %.3f",
        len(examples),
        result.global_step,
        result.training_loss,
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save(str(folder), create_model_card=False)
    to_fp16(folder)


class Finetuner(Protocol):
    """Tunes an embedder into a folder and loads it back (a fake one in unit tests)."""

    base_id: str

    def tune(self, examples: Examples, folder: Path, s: FinetuneSettings) -> None: ...

    def load(self, folder: Path) -> Embedder: ...


class MiniLMFinetuner:
    """The packaged all-MiniLM-L6-v2, tuned with sentence-transformers."""

    def __init__(self, base: Embedder | None = None) -> None:
        self.base = base or SentenceTransformerEmbedder()
        self.base_id = self.base.model_id
        self.base_path = getattr(self.base, "path", None)
        if self.base_path is None:
            raise ValueError(f"embedder {self.base_id!r} has no local folder to fine-tune")

    def tune(self, examples: Examples, folder: Path, s: FinetuneSettings) -> None:
        finetune_sentence_transformer(examples, folder, s, self.base_path)

    def load(self, folder: Path) -> Embedder:
        return SentenceTransformerEmbedder(folder, max_tokens=self.base.max_tokens)
