"""Stage 4, persistence: a model is a closed folder of JSON and safetensors, every file hashed.

Loading checks layout, hashes, paths and types and never unpickles anything.
"""
