"""An embedded emulator of the Rune Labs Stream API V1, for tests, demos and benchmarks.

A real HTTP/1.1 server on loopback (keep-alive, gzip, Content-Length on every answer) serving
all nine resources of the Stream API V1 (``runeq_fn.resources``) from deterministic generators,
with both pagination schemes, the three credential kinds, a Cognito refresh endpoint and injectable faults.

>>> from runeq_fn.emulator import Emulator
>>> with Emulator(page_size=10) as emu:
...     emu.url.startswith("http://127.0.0.1:")
True

Credentials (fixed fakes, see ``CREDENTIALS``): access token ``emulator-access-token-id`` /
``emulator-access-token-secret``; client keys ``emulator-client-key-id`` /
``emulator-client-access-key`` (patient ``patient-1``); a static unsigned JWT; Cognito client
``emulatorcognitoclientid`` with refresh token ``emulator-cognito-refresh-token``.

Data (see ``data``): any patient and device id; every UTC day of 2000-2099 has wear windows that
always cover 09:00-11:00 and 15:00-18:00. Accel and rotation sample at 50 Hz, lfp at 250 Hz (two
channels), band power at 1 Hz (two channels x alpha/beta), heart rate every 5 s, symptom
probability every 60 s, device state every 600 s. Pagination and tokens: see ``pagination``;
faults: see ``faults``.

The modules: ``server`` (the ``Emulator``: its options, request log and faults, and the answer to
each request), ``handler`` (connections: TLS, keep-alive, reading a request, framing its answer),
``replies`` (an answer before it is sent, gzip, what a fault changes), ``records`` (the request
log, never a credential), ``resources`` (the nine resources: parameters in, rows out), ``data``
(the generators), ``pagination``, ``faults``, ``auth`` (credentials and their checks) and
``fixture`` (a pytest fixture).
"""

from __future__ import annotations

from .auth import CREDENTIALS
from .faults import Fault
from .records import RequestRecord
from .server import Emulator

__all__ = ["CREDENTIALS", "Emulator", "Fault", "RequestRecord"]
