"""Stage 3, the model: features on arrays, a logistic head, calibration, a trained threshold,
the rank within a feed, and ``RelevanceModel`` (a scikit-learn estimator) around them."""
