"""Stage 1, reading: every input format into long-format tables of whole, validated feeds.

Nothing here imports a later stage (embed, model, ...). Format readers are registered in
``relevance.io.formats``; the one validator is ``relevance.io.validate``.
"""
