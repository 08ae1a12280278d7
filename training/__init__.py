"""Retraining pipeline: labelled feeds in, a verified model folder out."""
