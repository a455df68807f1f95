"""``toolz.curry`` that shows the curried function's own signature (``help``, ``inspect``, editors)."""

from __future__ import annotations

import inspect

import toolz
from toolz.functoolz import instanceproperty, no_default


class curry(toolz.curry):  # noqa: N801 - used as a decorator, named as toolz names it
    """``toolz.curry``, whose signature leaves required parameters without a default.

    toolz gives each required parameter the placeholder default ``'__no__default__'``,
    which ``help()`` then shows as if it were a value to pass.

    >>> @curry
    ... def scale(x, factor=2.0):
    ...     return x * factor
    >>> inspect.signature(scale)
    <Signature (x, factor=2.0)>
    >>> inspect.signature(scale(factor=3.0)), scale(factor=3.0)(2.0)
    (<Signature (x, *, factor=3.0)>, 6.0)
    """

    @instanceproperty
    def __signature__(self) -> inspect.Signature:
        # toolz makes the parameters after a bound keyword keyword-only, so no required
        # parameter ever follows one with a default: dropping the placeholder is always valid
        signature = super().__signature__
        return signature.replace(parameters=[
            p.replace(default=inspect.Parameter.empty) if p.default is no_default else p
            for p in signature.parameters.values()
        ])
