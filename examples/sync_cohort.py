"""Keep a cohort's accelerometry current on disk, then read it with DuckDB and pandas.

    python examples/sync_cohort.py [DIR]

The first sync pulls 09:00 to 09:10 of every patient; the second extends it to
09:20, pulling only the new 10 minutes and the last 2 minutes again (late data);
a third with the same range pulls nothing. The dataset is Parquet partitioned
by patient and device, read by any Parquet reader with no options.
(``pip install 'runeq-fn[arrow,pandas]' duckdb``)
"""

import sys
import tempfile

import duckdb
import pandas as pd
from _common import COHORT, DAY_START, DEVICE_ID, HOUR

from runeq_fn.sinks.inputs import connect
from runeq_fn.sync import sync

START = DAY_START + 9 * HOUR


def main(folder: str) -> None:
    with connect(emulator="auto") as cfg:
        for end, recheck in ((START + 600, 0), (START + 1200, 120), (START + 1200, 120)):
            report = sync(cfg, "accel", COHORT, DEVICE_ID, START, end, folder, recheck=recheck)
            print(f"synced to {pd.Timestamp(end, unit='s', tz='UTC'):%H:%M}: {report.total('windows')} windows, "
                  f"{report.total('rows'):,} rows, {report.total('requests')} requests")
    per_patient = duckdb.sql(
        f"select patient_id, count(*) as samples, round(avg(sqrt(x*x + y*y + z*z)), 3) as mean_g "
        f"from read_parquet('{folder}/**/*.parquet', hive_partitioning=true) group by 1 order by 1"
    ).df()
    print(per_patient.to_string(index=False))
    frame = pd.read_parquet(folder)
    frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)
    minutes = frame.set_index("time").groupby("patient_id", observed=True)["x"].resample("5min").count()
    print(f"pandas: {len(frame):,} rows; samples per 5 minutes of {COHORT[0]}: {minutes[COHORT[0]].tolist()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="runeq-sync-") + "/accel")
