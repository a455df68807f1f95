"""The classic runeq V1 walkthrough: only the import changes (`from runeq_fn import ...`).

python examples/walkthrough.py
"""

from _common import DAY_END, DAY_START, DEVICE_ID, HOUR, PATIENT_ID

from runeq_fn import stream
from runeq_fn.sinks.inputs import connect


def main() -> None:
    with connect(emulator="auto") as cfg:  # Config() when ~/.rune/config exists
        client = stream.V1Client(cfg)
        accel = client.Accel(
            patient_id=PATIENT_ID,
            device_id=DEVICE_ID,
            start_time=DAY_START + 9 * HOUR,
            end_time=DAY_START + 9 * HOUR + 60,
        )

        for page in accel.iter_json_data():  # columnar JSON, one result per page
            print(f"JSON page: {len(page['time'])} samples, columns {sorted(page)}")

        texts = list(accel.iter_csv_text())  # CSV text, one per page
        print(f"CSV: {len(texts)} pages, header {texts[0].splitlines()[0]!r}")

        points = list(accel.points())  # every row as a dict, values as floats
        print(f"points: {len(points)}, first {points[0]}")

        narrower = accel.points(
            end_time=DAY_START + 9 * HOUR + 10
        )  # a call's parameters override the defaults
        print(f"first 10 s: {sum(1 for _ in narrower)} points")

        hours = accel.iter_json_availability(start_time=DAY_START, end_time=DAY_END, resolution=HOUR)
        worn = [
            int(t) for page in hours for t, flag in zip(page["time"], page[accel.expr_availability]) if flag
        ]
        print(f"hours with accelerometry: {[(t - DAY_START) // HOUR for t in worn]}")

        events = client.Event(patient_id=PATIENT_ID, start_time=DAY_START, end_time=DAY_END)
        for page in events.iter_json_data():
            for event in page["event"]:
                print(f"event: {event['display_name']} at {event['time']}")


if __name__ == "__main__":
    main()
