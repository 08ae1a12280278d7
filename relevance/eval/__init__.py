"""Stage 5, evaluation: metrics with feed-bootstrap intervals, baselines, slices, reports.

``relevance.eval.evaluation.evaluate`` computes; ``relevance.eval.report.write_report``
renders (it needs the ``report`` extra: matplotlib and jinja2).
"""
