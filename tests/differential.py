"""Runs the same calls through a runeq-shaped library: runeq 0.15.0 (in its own venv) or runeq_fn.

Used twice by ``test_differential.py``: imported, with ``runeq_fn``; and as a script under
runeq 0.15.0's interpreter, reading the cases as JSON on stdin and writing the results on
stdout. Before each case it asks the emulator for ``/__case__?n=<i>`` so that the request
log can be cut into one slice per case.

Results keep what a user's code can tell apart: every float is written with its type's name
(``float64`` for numpy's, ``float`` for Python's) and its repr, so NaN is compared as NaN and
``numpy.float64`` as itself.
"""

import json
import sys
import urllib.error
import urllib.request


def typed(value):
    """JSON-ready values that keep float types: ``1.0`` is ``["float", "1.0"]``, numpy's NaN ``["float64", "nan"]``."""
    if isinstance(value, dict):
        return {("None" if k is None else k): typed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed(v) for v in value]
    if isinstance(value, float):  # numpy.float64 is a float too; its type's name tells them apart
        return [type(value).__name__, repr(float(value))]
    return value


def body_json(response):
    """The body as JSON, or the name every JSON failure shares in both libraries (``ValueError``)."""
    try:
        return response.json()
    except ValueError:
        return "ValueError"


def response_summary(response, fmt):
    return {
        "status": response.status_code,
        "ok": response.ok,
        "reason": response.reason,
        "url": response.url,
        "text": response.text,
        "content": response.content.decode("latin-1"),
        "lines": [line.decode("latin-1") for line in response.iter_lines()],
        "json": body_json(response) if fmt == "json" or not response.ok else None,
        "token": response.headers.get("x-rune-next-page-token"),
        "type": response.headers.get("CONTENT-TYPE"),
    }


def run_case(stream, config_class, case, client_options):
    stream.v1.USE_NUMPY = case.get("numpy", True)
    client = stream.V1Client(config_class(**case["config"]), **client_options)
    accessor = getattr(client, case["accessor"])(**case["defaults"])
    method, params = case["method"], dict(case["params"])
    try:
        if method == "expr_availability":
            return {"value": accessor.expr_availability}
        if method == "__iter__":
            return {"value": typed(list(accessor))}
        if method.startswith("get_"):
            return response_summary(getattr(accessor, method)(**params), method.split("_")[1])
        return {"value": typed(list(getattr(accessor, method)(**params)))}
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


def run_cases(stream, config_class, url, cases, **client_options):
    """Each case's result, in order; ``client_options`` go to ``V1Client`` (runeq-fn's ``prefetch``)."""
    results = []
    for n, case in enumerate(cases):
        mark(url, n)
        results.append(run_case(stream, config_class, case, client_options))
    return results


def main():
    from runeq import Config, stream

    job = json.load(sys.stdin)
    json.dump(run_cases(stream, Config, job["url"], job["cases"]), sys.stdout)


if __name__ == "__main__":
    main()
