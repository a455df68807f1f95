"""The shim's numpy conversion: ``points()`` values as runeq 0.15.0 gave them with numpy installed.

A number is a ``numpy.float64``; a blank cell is ``numpy.nan`` (a plain float);
a key missing from a short row is ``numpy.float64('nan')``; text ``numpy.float64``
refuses stays text; rows end where ``str.splitlines()`` ends lines. numpy is imported on first use, never by ``import runeq_fn``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache, partial
from typing import Any

from ..parse.points import Conversion, blank_indexes, float_cells


def numpy_cell(np: Any, cell: str) -> Any:
    """One cell by runeq's numpy rule.

    >>> import numpy as np
    >>> [numpy_cell(np, c) for c in ("", "1.5", "on")]
    [nan, np.float64(1.5), 'on']
    """
    if not cell:
        return np.nan
    try:
        return np.float64(cell)
    except ValueError:
        return cell


def numpy_column(np: Any, cells: Sequence[str]) -> list[Any]:
    """A column's cells as ``numpy_cell`` gives them; a column of numbers and blanks in one numpy call.

    >>> import numpy as np
    >>> numpy_column(np, ["1", "", "2"]), numpy_column(np, ["1", "high"])
    ([np.float64(1.0), nan, np.float64(2.0)], [np.float64(1.0), 'high'])
    """
    found = float_cells(cells)
    if found is None:
        return [numpy_cell(np, cell) for cell in cells]
    floats, blanks = found
    column = list(np.array(floats, dtype=np.float64))  # numpy.float64 items
    for at in blanks:
        column[at] = np.nan  # runeq gave the plain float NaN for a blank, not a numpy.float64
    return column


def numpy_arrow_column(np: Any, column: Any) -> list[Any]:
    """A pyarrow column of doubles as ``numpy_column`` gives it: ``numpy.float64`` items, ``numpy.nan`` where null.

    >>> import numpy as np, pyarrow as pa
    >>> numpy_arrow_column(np, pa.chunked_array([[1.5, None]]))
    [np.float64(1.5), nan]
    """
    values = list(column.to_numpy())
    if column.null_count:
        for at in np.flatnonzero(column.is_null().to_numpy()).tolist():
            values[at] = np.nan  # runeq gave the plain float NaN for a blank, not a numpy.float64
    return values


def numpy_numbers(np: Any, values: list[float | None]) -> list[Any]:
    """Floats and None (for blanks) as ``numpy_column`` gives them: ``numpy.float64`` items, ``numpy.nan`` at blanks.

    >>> import numpy as np
    >>> numpy_numbers(np, [1.5, None])
    [np.float64(1.5), nan]
    """
    numbers = list(np.array(values, dtype=np.float64))  # None becomes NaN
    for at in blank_indexes(values, None):
        numbers[at] = np.nan  # runeq gave the plain float NaN for a blank, not a numpy.float64
    return numbers


@lru_cache(maxsize=1)
def numpy_conversion() -> Conversion:
    """The ``Conversion`` of runeq's numpy branch (imports numpy, once).

    >>> numpy_conversion().missing
    np.float64(nan)
    """
    import numpy as np

    return Conversion(
        number=np.float64,
        cell=partial(numpy_cell, np),
        column=partial(numpy_column, np),
        missing=np.float64(np.nan),
        splitlines=True,
        arrow_column=partial(numpy_arrow_column, np),
        numbers=partial(numpy_numbers, np),
    )
