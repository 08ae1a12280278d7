"""Recipes that build, compare and promote the shipped models (run from the checkout).

The reusable retraining code is ``relevance.train``; this folder is never installed.
"""
