"""What the examples share: the patient, device and day they ask about.

Every example runs as it is: with no ``~/.rune/config`` it pulls fake data from
an in-process emulator (``runeq_fn.sinks.inputs.connect(emulator="auto")``). With a
config of your own, point the examples at data you can read::

    RUNEQ_PATIENT_ID=... RUNEQ_DEVICE_ID=... RUNEQ_DAY=2024-03-01 python examples/plot_day.py
"""

import os
from datetime import datetime, timezone

PATIENT_ID = os.environ.get("RUNEQ_PATIENT_ID", "patient-1")
DEVICE_ID = os.environ.get("RUNEQ_DEVICE_ID", "watch-1")
COHORT = os.environ.get("RUNEQ_PATIENT_IDS", "patient-1,patient-2,patient-3,patient-4").split(",")
"""The patients of the cohort examples (comma-separated in the environment)."""

DAY_START = int(
    datetime.fromisoformat(os.environ.get("RUNEQ_DAY", "2021-01-01")).replace(tzinfo=timezone.utc).timestamp()
)
DAY_END = DAY_START + 86400
HOUR = 3600
