"""Fit a RelevanceModel from labelled feed files and save it as a model folder.

Order matters: every data check runs before any embedding (minutes of work),
folds are grouped (by story when a meta file gives one, else by feed) so that
out-of-fold figures say how the model does on stories it has never seen, and
the folder is written beside ``out`` and swapped in whole, so a failed run
never leaves half a model. Same data, options and seed give a byte-identical
folder.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError

from relevance.embed.cache import CachedEmbedder, EmbeddingCache
from relevance.embed.encoder import Embedder, SentenceTransformerEmbedder, embed_feeds
from relevance.extras import require
from relevance.io.meta import MetaPaths
from relevance.io.text import content_digests
from relevance.model.estimator import DEFAULT_C, RelevanceModel
from relevance.model.levels import Targets, targets
from relevance.persistence.artifacts import read_config, save_model
from relevance.train.card import write_card
from relevance.train.checks import DataCheckError, check_evaluation, check_folds, check_training
from relevance.train.compare import (
    N_RESAMPLES,
    PromotionRefused,
    compare_models,
    describe,
    load_for_compare,
    promote,
    sibling,
    summarise_levels,
    swap_in,
)
from relevance.train.data import (
    Labelled,
    data_sha256,
    file_sha256,
    load_groups,
    provenance,
    read_labelled,
)
from relevance.train.finetune import (
    Finetuner,
    FinetuneSettings,
    MiniLMFinetuner,
    training_examples,
)
from relevance.train.heldout import (
    check_heldout,
    heldout_comparison,
    heldout_evaluation,
)

__all__ = ["data_sha256", "load_groups", "train"]
log = logging.getLogger("relevance.train")
EMBEDDER_DIR = "embedder"


def _check_params(params: dict) -> None:
    """The estimator's own parameter checks, before any reading or embedding."""
    try:
        RelevanceModel(**params)._check_params()  # type: ignore[arg-type]
    except (InvalidParameterError, TypeError) as exc:
        raise DataCheckError(f"invalid training option: {exc}") from None


def _check_levels(params: dict, t: Targets) -> None:
    """An objective for a level the data cannot train is a mistake, said before any work."""
    for name in ("objective", "min_precision", "min_recall"):
        value = params.get(name)
        extra = sorted(set(value) - set(t.levels)) if isinstance(value, dict) else []
        if extra:
            raise DataCheckError(
                f"--{name.replace('_', '-')} for the {extra[0]} level: the training data has "
                f"only the {' and '.join(t.levels)} level (the topic level needs grades 0/1/2)"
            )


def _check_out(out: Path) -> None:
    """Replace only a model folder (or an empty one): never a folder of something else."""
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / "config.json").is_file())
    ):
        raise DataCheckError(
            f"--output {out}: exists and is not a model folder (no config.json); refusing to "
            "replace it"
        )


def _command(data: list, meta, group_by, params: dict, finetune: bool, eval_data, compare) -> str:
    """The command that rebuilds this folder; file names only, so it does not name a machine."""
    parts = ["relevance train", *(Path(p).name for p in data)]
    if meta:
        parts += ["--meta", *(Path(m).name for m in _metas(meta))]
    if group_by:
        parts += ["--group-by", group_by]
    for name in ("min_precision", "min_recall"):
        value = params.get(name)
        flag = "--" + name.replace("_", "-")
        if isinstance(value, dict):
            parts += [x for level, v in sorted(value.items()) for x in (flag, f"{level}={v}")]
        elif value is not None:
            parts += [flag, str(value)]
    if params.get("n_splits", 5) != 5:
        parts += ["--folds", str(params["n_splits"])]
    if params.get("C", DEFAULT_C) != DEFAULT_C:
        parts += ["--C", str(params["C"])]
    if finetune:
        parts.append("--finetune-embedder")
    if eval_data:
        parts += ["--eval", *(Path(p).name for p in eval_data)]
    if compare:
        parts += ["--compare", str(compare)]
    return " ".join([*parts, "--seed", str(params.get("random_state", 0)), "--out", "DIR"])


def _metas(meta: MetaPaths | None) -> list[str | Path]:
    return [] if meta is None else [meta] if isinstance(meta, str | Path) else list(meta)


def _training_record(
    data: Labelled, t: Targets, groups: np.ndarray, meta, group_by, paths: list
) -> dict:
    frame = data.frame
    y = t.story
    metas = _metas(meta)
    return {
        "files": [f["name"] for f in data.files],
        "file_details": data.files,
        "sha256": data_sha256(paths),
        "n_feeds": int(frame["feed_id"].nunique()),
        "n_items": int(len(frame)),
        "n_relevant": int(y.sum()),
        "relevant_share": float(y.mean()),
        "levels": list(t.levels),
        "grades": None
        if t.grade is None
        else {str(g): int((t.grade == g).sum()) for g in (0, 1, 2)},
        "group_by": group_by or "feed_id",
        "n_groups": int(len(np.unique(groups))),
        "meta": [{"name": Path(m).name, "sha256": file_sha256(m)} for m in metas] or None,
        "provenance": provenance(meta, list(dict.fromkeys(frame["feed_id"]))),
    }


def _evaluation(model: RelevanceModel, data: Labelled, seed: int) -> dict:
    frame = data.frame
    p = model.level_probabilities(frame)
    levels = summarise_levels(
        targets(frame), p, frame["feed_id"].to_numpy(), model.thresholds_, seed
    )
    return {
        "files": [{"name": f["name"], "sha256": f["sha256"]} for f in data.files],
        "levels": levels,
    }


def _heldout_or_reason(
    frame, t: Targets, groups: np.ndarray, embedder: Embedder, params: dict
) -> dict:
    """Held-out figures of this recipe, or why the data cannot give them (said, not hidden)."""
    n_splits, seed = int(params.get("n_splits", 5)), int(params.get("random_state", 0))
    try:
        check_heldout(t, groups, n_splits, seed)
    except DataCheckError as exc:
        log.warning("warning: no held-out figures: %s", exc)
        return {"skipped": str(exc)}
    log.info("held-out check: fitting on the other groups, scoring the held-out ones")
    return heldout_evaluation(frame, groups, embedder, params)


def train(
    data: list[str | Path],
    out: str | Path,
    meta: MetaPaths | None = None,
    group_by: str | None = None,
    embedder: Embedder | None = None,
    *,
    eval_data: list[str | Path] | None = None,
    finetune: bool = False,
    finetune_settings: FinetuneSettings | None = None,
    finetuner: Finetuner | None = None,
    compare: str | Path | None = None,
    compare_embedder: Embedder | None = None,
    promote_model: bool = False,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    **params: object,
) -> RelevanceModel:
    """Check, (fine-tune,) fit with grouped cross-validation, evaluate, compare, save.

    Returns the fitted model; ``model.train_info_`` holds the saved config and the
    comparison and promotion messages. Raises DataCheckError before any embedding
    work, ObjectiveNotMet when a precision/recall floor is out of reach, and
    PromotionRefused (after saving ``out``) when ``promote_model`` fails the rule.
    """
    out = Path(out)
    seed = int(params.get("random_state", 0))  # type: ignore[arg-type]
    n_splits = int(params.get("n_splits", 5))  # type: ignore[arg-type]
    _check_params(params)
    if compare is not None and not eval_data:
        raise DataCheckError("--compare needs --eval DATA: both models are scored on it")
    if promote_model and compare is None:
        raise DataCheckError("--promote needs --compare DIR (the folder to replace) and --eval")
    labelled = read_labelled(list(data))
    t = check_training(labelled)
    _check_levels(params, t)
    frame = labelled.frame
    groups = load_groups(frame, meta, group_by)
    check_folds(t, groups, n_splits, seed)
    evaluation = None
    if eval_data:
        evaluation = read_labelled(list(eval_data))
        check_evaluation(evaluation, labelled)
    if compare is not None:
        if Path(compare).resolve() == out.resolve():
            raise DataCheckError(
                f"--output {out} is the --compare folder: write the new model elsewhere; "
                "--promote replaces the compared folder when the new model is not worse"
            )
        read_config(compare)  # fail now, not after the embedding work
    if finetune:
        check_heldout(t, groups, n_splits, seed)
        if finetuner is None:  # fail now, not after the checks' and the embedding's minutes
            require("datasets", "train")
            require("accelerate", "train")
    _check_out(out)
    if finetune:
        finetuner = finetuner or MiniLMFinetuner(
            embedder.inner if isinstance(embedder, CachedEmbedder) else embedder
        )
    else:
        finetuner = None

    cache = EmbeddingCache(cache_dir) if use_cache else None
    # Without the on-disk cache, an in-memory one: the held-out check and the final fit
    # see the same texts, and each is still encoded once.
    in_memory = 100_000 if cache is not None else 10_000_000

    def wrap(e: Embedder) -> Embedder:
        return e if isinstance(e, CachedEmbedder) else CachedEmbedder(e, cache, in_memory)

    inner = embedder or SentenceTransformerEmbedder()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = sibling(out, "staging")
    staging.mkdir()
    try:
        extra: dict = {
            "command": _command(list(data), meta, group_by, params, finetune, eval_data, compare)
        }
        model_embedder, embedder_ref = wrap(inner), None
        if finetuner is not None:
            settings = finetune_settings or FinetuneSettings(seed=seed)
            if cache is not None:
                # A vector differs in the 7th decimal with the batch it was encoded in. Encode
                # the whole table once, as a frozen run does, so the held-out figures do not
                # depend on which run filled the cache.
                embed_feeds(frame, wrap(inner))
            heldout = heldout_comparison(
                frame, groups, wrap(inner), finetuner, settings, dict(params), wrap
            )
            examples = training_examples(frame)
            log.info("fine-tuning the embedder on %d examples of all training feeds", len(examples))
            finetuner.tune(examples, staging / EMBEDDER_DIR, settings)
            model_embedder = wrap(finetuner.load(staging / EMBEDDER_DIR))
            embedder_ref = EMBEDDER_DIR
            extra["files"] = sorted(
                p.relative_to(staging).as_posix()
                for p in (staging / EMBEDDER_DIR).rglob("*")
                if p.is_file()
            )
            extra["heldout"] = {
                "split": heldout["split"],
                "levels": {lv: c["new"] for lv, c in heldout["levels"].items()},
            }
            extra["finetune"] = {
                "base_model": finetuner.base_id,
                "base_sha256": inner.fingerprint,
                "settings": settings.to_json(),
                "loss": "MultipleNegativesRankingLoss (in-batch negatives, no text twice a batch"
                + (
                    "; a hard negative per pair: a related story of its feed, else an "
                    "off-topic item of it)"
                    if examples.negatives is not None
                    else ")"
                ),
                "n_examples": len(examples),
                "weights_dtype": "float16",
                "heldout": heldout,
            }
        else:
            extra["heldout"] = _heldout_or_reason(frame, t, groups, model_embedder, params)
        log.info(
            "fitting: %d feeds, %d items, %d folds grouped by %s",
            frame["feed_id"].nunique(),
            len(frame),
            n_splits,
            group_by or "feed_id",
        )
        model = RelevanceModel(embedder=model_embedder, **params).fit(frame, groups=groups)
        metrics = model.report_.metrics
        oof_levels = summarise_levels(
            t, model.report_.oof.probability, frame["feed_id"].to_numpy(), model.thresholds_, seed
        )
        for level, summary in oof_levels.items():
            metrics["levels"][level]["oof"] = summary
        metrics["bootstrap_resamples"] = N_RESAMPLES
        comparison = None
        if evaluation is not None:
            extra["evaluation"] = _evaluation(model, evaluation, seed)
        if compare is not None and evaluation is not None:
            old = load_for_compare(compare, compare_embedder, wrap)
            comparison = compare_models(model, old, compare, evaluation.frame, seed)
            extra["comparison"] = comparison
        training = _training_record(labelled, t, groups, meta, group_by, list(data))
        save_model(
            model,
            staging,
            training=training,
            extra=extra,
            embedder_ref=embedder_ref,
            trained_on=content_digests(frame),
        )
        write_card(staging)
        swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if cache is not None:
            cache.close()
    # The returned model must not hold the closed cache nor the staging path.
    model.embedder_ = finetuner.load(out / EMBEDDER_DIR) if finetuner is not None else inner
    info: dict = {"out": str(out), "config": read_config(out), "comparison": None}
    model.train_info_ = info
    if comparison is not None:
        info["comparison"] = describe(comparison)
        if promote_model:
            if not comparison["not_worse"]:
                raise PromotionRefused(
                    f"promotion refused: {info['comparison']}; {comparison['rule']}. "
                    f"{compare} is unchanged; the new model is in {out}"
                )
            info["promotion"] = promote(out, compare)
    return model
