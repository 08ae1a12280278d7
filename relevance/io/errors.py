"""The error every reader and validator raises for bad input (the CLI exits 2 on it)."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input, with where it was found: file, line or row, field, value, what was expected."""

    def __init__(self, source: str, where: str, field: str, value: object, expected: str):
        self.source, self.where, self.field, self.value, self.expected = (
            source,
            where,
            field,
            value,
            expected,
        )
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{source}:{where}: field {field!r}: got {shown}, expected {expected}")

    def __reduce__(self) -> tuple:
        """Rebuilt from its parts, so it survives pickling (Ray sends it between processes)."""
        return (InputError, (self.source, self.where, self.field, self.value, self.expected))
