"""`import runeq_fn` stays light: fire, PyYAML, urllib3 and the emulator load only when used."""

import subprocess
import sys

from extras import need


def test_import_loads_no_heavy_module():
    code = (
        "import sys, runeq_fn; "
        "print(' '.join(m for m in ('fire', 'yaml', 'urllib3', 'runeq_fn.emulator', 'runeq_fn.cli') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_public_names_are_exported():
    import runeq_fn

    for name in ("Config", "stream", "errors", "build_request", "pages", "json_pages", "csv_pages", "csv_points"):
        assert hasattr(runeq_fn, name)
    from runeq_fn import errors, stream

    assert issubclass(errors.APIError, errors.RuneError)
    assert stream.Accel.__name__ == "Accel"


def test_the_columnar_modules_import_no_optional_extra():
    code = (
        "import sys, runeq_fn, runeq_fn.parse.arrow, runeq_fn.sinks.parquet, runeq_fn.sinks.dask; "
        "print(' '.join(m for m in ('pandas', 'pyarrow', 'numpy', 'dask', 'distributed', 'duckdb') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_the_engines_load_pyarrow_at_the_first_page_not_before():
    need("pyarrow")
    code = (
        "import sys, runeq_fn, runeq_fn.parse.columns, runeq_fn.stream\n"
        "points = runeq_fn.csv_points(['time,x\\n1,2\\n'], engine='arrow')\n"
        "print('pyarrow' in sys.modules, 'numpy' in sys.modules)\n"
        "print(list(points), 'pyarrow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["False False", "[{'time': 1.0, 'x': 2.0}] True"]
