"""Stage 2, embedding: unique texts to normalised vectors (torch or onnx-int8), cached on disk.

Kept free of heavy imports: torch and onnxruntime load only when a text must be encoded.
"""

#: Embedding backends a model folder can hold a head for (``relevance add-backend``).
BACKENDS = ("torch", "onnx-int8")
