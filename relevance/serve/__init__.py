"""Stage 5, online scoring: ``relevance serve``, an HTTP service for live feeds.

It sits beside ``batch`` (and may use it, io, embed, model and persistence); nothing in the
core imports it. Requests are validated by the one validator (``relevance.io``), batched
across requests into one ``score_frame`` call (``relevance.serve.batcher``), and scored by
a model loaded once per process, behind the embedding cache ``relevance score`` uses.
FastAPI and uvicorn come with the ``serve`` extra.
"""
