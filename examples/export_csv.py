"""Export a query to a CSV file, as `runeq fetch` does: atomically, and resumable after an interruption.

    python examples/export_csv.py [OUTPUT.csv]

The same pull from a shell (drop --emulator to use ~/.rune/config)::

    runeq fetch accel --patient-id patient-1 --device-id watch-1 \\
        --start-time 2021-01-01T09:00:00Z --end-time 2021-01-01T09:10:00Z --output accel.csv --emulator
"""

import os
import sys
import tempfile

from _common import DAY_START, DEVICE_ID, HOUR, PATIENT_ID

from runeq_fn.sinks.export import export_query
from runeq_fn.sinks.inputs import connect


def main(output: str) -> None:
    query = {
        "patient_id": PATIENT_ID,
        "device_id": DEVICE_ID,
        "start_time": DAY_START + 9 * HOUR,
        "end_time": DAY_START + 9 * HOUR + 600,
    }
    with connect(emulator="auto") as cfg:
        # written as OUTPUT.part, renamed to OUTPUT when complete
        done = export_query(cfg, "accel", query, "csv", output)
    print(f"wrote {done.rows:,} rows from {done.pages} pages ({done.bytes:,} bytes) to {output}")
    with open(output) as f:
        print("".join(f.readline() for _ in range(3)), end="")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.mkdtemp(), "accel.csv"))
