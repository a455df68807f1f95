"""The shim's points() as runeq 0.15.0 gave them with numpy; the functional core stays plain.

(``test_differential.py`` compares the same against runeq 0.15.0 itself.)
"""

import math
import subprocess
import sys

import pytest
from extras import need
from hypothesis import given
from hypothesis import strategies as st

from runeq_fn import Config, csv_points
from runeq_fn.emulator import Emulator
from runeq_fn.parse.points import arrow_points, row_points, text_points
from runeq_fn.stream import v1
from runeq_fn.stream.numeric import numpy_cell, numpy_conversion

need("numpy")

import numpy as np  # noqa: E402

MORNING = 1609491600
QUERY = {"patient_id": "patient-1", "device_id": "watch-1", "start_time": MORNING, "end_time": MORNING + 2}


def kinds(point):
    """Each value's type name, and 'nan' for NaN: what ported code can tell apart."""
    return {k: (type(v).__name__, "nan" if isinstance(v, float) and math.isnan(v) else "") for k, v in point.items()}


@pytest.fixture
def use_numpy(monkeypatch):
    def switch(on):
        monkeypatch.setattr(v1, "USE_NUMPY", on)

    return switch


@pytest.mark.parametrize("engine", ["python", "arrow"])
def test_points_are_numpy_floats_and_nan_as_in_runeq_and_the_switch_is_read_at_each_call(use_numpy, engine):
    with Emulator(page_size=40, blank_rate=0.2) as emu:
        accel = v1.V1Client(Config(**emu.config_values()), engine=engine).Accel(**QUERY)
        use_numpy(True)
        with_numpy = list(accel.points())
        use_numpy(False)
        without = list(accel)
        core = list(csv_points(accel.iter_csv_text()))
    values = [v for p in with_numpy for v in p.values()]
    assert {type(v) for v in values} == {np.float64, float}
    blanks = [v for v in values if type(v) is float]
    assert blanks and all(v is np.nan for v in blanks)  # numpy.nan itself, as runeq gave
    assert all(not np.isnan(v) for v in values if type(v) is np.float64)
    assert without == core  # float and None, as the core gives
    assert {type(v) for p in without for v in p.values()} == {float, type(None)}
    for a, b in zip(with_numpy, without, strict=True):
        assert {k: (None if type(v) is float else float(v)) for k, v in a.items()} == b


def test_odd_rows_with_numpy(use_numpy):
    use_numpy(True)
    page = 'time,x,y\n1,2,\n3,,on\n4\n5,6,7,8,9\n7, 8 ,"9"\n'
    got = list(text_points(page, numpy_conversion()))
    assert [kinds(p) for p in got] == [
        {"time": ("float64", ""), "x": ("float64", ""), "y": ("float", "nan")},
        {"time": ("float64", ""), "x": ("float", "nan"), "y": ("str", "")},
        {"time": ("float64", ""), "x": ("float64", "nan"), "y": ("float64", "nan")},  # a short row's keys
        {"time": ("float64", ""), "x": ("float64", ""), "y": ("float64", ""), None: ("list", "")},
        {"time": ("float64", ""), "x": ("float64", ""), "y": ("float64", "")},
    ]
    assert got[3][None] == ["8", "9"] and got[4]["x"] == 8.0


def test_the_core_stays_plain_with_numpy_on(use_numpy):
    use_numpy(True)
    assert list(csv_points(["time,x\n1,\n"])) == [{"time": 1.0, "x": None}]
    assert type(next(csv_points(["time,x\n1,2\n"]))["x"]) is float


CELLS = st.sampled_from(["", "1.5", "-0", "nan", "1e400", " 7 ", "n/a", "on", "3"])


def numeric(cell):
    return cell in ("", "1.5", "-0", "nan", "1e400", " 7 ", "3")


@given(st.integers(0, 3).flatmap(lambda width: st.lists(st.lists(CELLS, min_size=width, max_size=width), max_size=8)))
def test_numpy_by_columns_is_numpy_cell_by_cell(cells):
    """A plain page converted a column at a time in one numpy call, or read by pyarrow, gives what each cell gives alone."""
    table = [[str(n), *row] for n, row in enumerate(cells)]  # a time first: no row is a blank line
    header = ["time"] + [f"c{i}" for i in range(len(cells[0]) if cells else 0)]
    text = "\n".join(",".join(row) for row in [header, *table]) + "\n"
    conversion = numpy_conversion()
    want = [{h: numpy_cell(np, c) for h, c in zip(header, row)} for row in table]
    by_arrow = arrow_points(text, conversion)
    assert (by_arrow is None) == any(not numeric(c) for row in cells for c in row)  # pyarrow reads numbers only
    for got in (list(text_points(text, conversion)), list(row_points(text, conversion)), by_arrow or want):
        assert [kinds(p) for p in got] == [kinds(p) for p in want]
        assert [[repr(v) for v in p.values()] for p in got] == [[repr(v) for v in p.values()] for p in want]


def test_import_runeq_fn_does_not_import_numpy_until_points():
    code = (
        "import sys, runeq_fn, runeq_fn.stream.v1 as v1\n"
        "print('numpy' in sys.modules, v1.USE_NUMPY)\n"
        "v1.point_conversion()\n"
        "print('numpy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True"]
