"""Runs the same calls through a runeq-shaped library: runeq 0.15.0 (in its own venv) or runeq_fn.

Used twice by ``test_differential.py``: imported, with ``runeq_fn``; and as a script under
runeq 0.15.0's interpreter, reading the cases as JSON on stdin and writing the results on
stdout. Before each case it asks the emulator for ``/__case__?n=<i>`` so that the request
log can be cut into one slice per case.
"""

import json
import math
import sys
import urllib.error
import urllib.request


def plain(value):
    """JSON-ready values: numpy floats become floats, NaN (runeq's blank cell) None."""
    if isinstance(value, dict):
        return {("None" if k is None else k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def response_summary(response, fmt):
    return {
        "status": response.status_code,
        "ok": response.ok,
        "text": response.text,
        "json": response.json() if fmt == "json" and response.text else None,
        "token": response.headers.get("X-Rune-Next-Page-Token"),
    }


def run_case(stream, config_class, case):
    client = stream.V1Client(config_class(**case["config"]))
    accessor = getattr(client, case["accessor"])(**case["defaults"])
    method, params = case["method"], dict(case["params"])
    try:
        if method == "expr_availability":
            return {"value": accessor.expr_availability}
        if method == "__iter__":
            return {"value": [plain(p) for p in accessor]}
        if method.startswith("get_"):
            return response_summary(getattr(accessor, method)(**params), method.split("_")[1])
        return {"value": [plain(item) for item in getattr(accessor, method)(**params)]}
    except Exception as exc:  # the error itself is what is compared
        return {
            "error": type(exc).__name__,
            "message": str(exc),
            "status_code": getattr(exc, "status_code", None),
        }


def mark(url, n):
    try:
        urllib.request.urlopen(f"{url}/__case__?n={n}").close()
    except urllib.error.HTTPError:
        pass


def run_cases(stream, config_class, url, cases):
    results = []
    for n, case in enumerate(cases):
        mark(url, n)
        results.append(run_case(stream, config_class, case))
    return results


def main():
    from runeq import Config, stream

    job = json.load(sys.stdin)
    json.dump(run_cases(stream, Config, job["url"], job["cases"]), sys.stdout)


if __name__ == "__main__":
    main()
