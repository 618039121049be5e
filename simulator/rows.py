"""A run's samples, events and scaling actions held as typed columns, read as rows where rows are wanted.

The engine records them as lists of tuples; a seed process sends them as typed columns (``wire.py``). The harness
keeps them as those columns (``Rows``): its checks (``verify.py``), the figures and the telemetry take the columns
(``columns``) without an object per event, and the rest of the code, which iterates rows, still can.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Rows(Sequence):
    """Rows of one table as equal-length columns; ``labels`` maps a column's index to the names its small integer
    codes stand for (an event's kind), which is what a row holds in that column."""

    __slots__ = ("_cols", "_labels")

    def __init__(self, cols: list[np.ndarray], labels: dict[int, tuple[str, ...]] | None = None):
        self._cols = list(cols)
        self._labels = dict(labels or {})

    def __len__(self) -> int:
        return len(self._cols[0]) if self._cols else 0

    def column(self, i: int) -> np.ndarray:
        """Column ``i`` as an array (a coded column: its names, as strings)."""
        if i in self._labels:
            return np.array(self._labels[i])[self._cols[i]] if len(self) else np.array([], dtype=str)
        return self._cols[i]

    def _lists(self) -> list[list]:
        out = []
        for i, c in enumerate(self._cols):
            values = c.tolist()
            if i in self._labels:
                names = self._labels[i]
                values = [names[k] for k in values]
            out.append(values)
        return out

    def __iter__(self):
        return iter(list(zip(*self._lists(), strict=True)))

    def __getitem__(self, i):
        if isinstance(i, slice):
            return list(self)[i]
        return tuple(self._labels[j][int(c[i])] if j in self._labels else c[i].item()
                     for j, c in enumerate(self._cols))

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __add__(self, other) -> list:
        return list(self) + list(other)

    def __radd__(self, other) -> list:
        return list(other) + list(self)

    def __repr__(self) -> str:
        return f"Rows({len(self)} rows x {len(self._cols)} columns)"

    __hash__ = None


def columns(rows: Sequence, width: int) -> list[np.ndarray]:
    """The first ``width`` columns of ``rows`` (``Rows`` or a list of tuples) as arrays: numbers as numbers, names
    as strings."""
    if isinstance(rows, Rows):
        return [rows.column(i) for i in range(width)]
    if not rows:
        return [np.array([]) for _ in range(width)]
    return [np.array(col) for col in list(zip(*rows, strict=True))[:width]]



def coded_columns(rows: Sequence, width: int, i: int) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """The first ``width`` columns of ``rows`` as ``columns`` gives them, but column ``i`` (names: an event's kind)
    as small integer codes, with the names they stand for: no string per row where the rows came as codes
    (``Rows``)."""
    if isinstance(rows, Rows) and i in rows._labels:
        return [rows._cols[j] for j in range(width)], rows._labels[i]
    if isinstance(rows, Rows) or not rows:
        cols = columns(rows, width)
        names, codes = np.unique(cols[i].astype(str), return_inverse=True)
        cols[i] = codes.reshape(-1)
        return cols, tuple(names.tolist())
    transposed = list(zip(*rows, strict=True))[:width]  # one tuple per column, built in C
    index = {name: k for k, name in enumerate(dict.fromkeys(transposed[i]))}
    cols = [np.fromiter(map(index.__getitem__, col), np.int64, len(col)) if j == i else np.array(col)
            for j, col in enumerate(transposed)]
    return cols, tuple(str(name) for name in index)
