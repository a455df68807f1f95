"""The runeq 0.15.0 surface, at runeq's paths: ``stream.V1Client`` and ``stream.v1.V1Client`` alike.

``v1`` holds ``V1Client`` and the accessors; ``numeric`` the numpy values ``points()`` gives
where numpy is installed.

>>> from runeq_fn import stream
>>> stream.V1Client is stream.v1.V1Client, stream.Accel.__module__
(True, 'runeq_fn.stream.v1')
"""

from . import v1
from .v1 import (
    LFP,
    Accel,
    BandPower,
    Event,
    HeartRate,
    ProbabilitySymptom,
    Rotation,
    Span,
    State,
    StreamV1Base,
    StreamV1CSVBase,
    V1Client,
)

__all__ = [
    "v1", "V1Client", "StreamV1Base", "StreamV1CSVBase", "Accel", "BandPower", "Event", "HeartRate",
    "LFP", "ProbabilitySymptom", "Rotation", "Span", "State",
]
