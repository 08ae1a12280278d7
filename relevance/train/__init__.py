"""Stage 5, retraining: checked labelled data in, a verified model folder out.

``relevance.train.pipeline.train`` is what ``relevance train`` runs; the recipes that build
the shipped models live outside the package, in ``training/``.
"""
