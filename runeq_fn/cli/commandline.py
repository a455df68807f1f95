"""The command line checked before anything runs: its commands, options and arguments, as fire will read them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..config.keys import KNOWN_KEYS
from ..errors import UsageError


def help_after_separator(args: list[str]) -> list[str]:
    """Move a trailing ``--help`` behind fire's ``--`` separator, where fire expects it.

    Without this, fire shows the same help but first prints a note about the
    separator. ``main`` then sends the help to stdout, where it can be paged or
    searched (fire writes it to stderr).

    >>> help_after_separator(["configure", "-h"])
    ['configure', '--', '--help']
    >>> help_after_separator(["configure", "get", "jwt"])
    ['configure', 'get', 'jwt']
    """
    if args and args[-1] in ("-h", "--help") and "--" not in args:
        return [*args[:-1], "--", "--help"]
    return args


def checked_command_line(root: Any, args: list[str]) -> list[str]:
    """The arguments to hand to fire, checked before anything runs; fire would echo them back.

    fire prints the whole command line (secrets included) when an argument is
    left over, and calls the command first; asked for help after arguments, it
    also runs the command, then shows them in the help. So an unknown command
    or flag, a surplus argument and fire's own flags other than ``--help`` are
    refused here, with an error that shows no value typed, and a request for
    help drops the arguments: fire gets the command's words and ``--help`` only.

    >>> from runeq_fn.cli import Runeq
    >>> checked_command_line(Runeq(), ["configure", "setup", "--access-token-secret", "S", "-h"])
    ['configure', 'setup', '--', '--help']
    >>> checked_command_line(Runeq(), ["configure", "setup", "--access-token-secret", "S", "--bogus"])
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: runeq configure setup has no option --bogus: see runeq configure setup --help
    """
    import difflib
    import inspect

    line, fire_flags = list(args), []
    if "--" in line:
        at = line.index("--")
        line, fire_flags = line[:at], line[at + 1:]
    if any(flag not in ("--help", "-h") for flag in fire_flags):
        raise UsageError("only --help may follow `--` (fire's other flags would print the arguments given)")
    words, method, rest = command_words(root, line)
    if fire_flags or "--help" in rest or "-h" in rest:
        return [*words[1:], "--", "--help"]
    if method is None:
        return list(args)
    command = " ".join(words)
    parameters = inspect.signature(method).parameters.values()
    named = named_parameters(method)
    varargs = any(p.kind == p.VAR_POSITIONAL for p in parameters)
    varkw = any(p.kind == p.VAR_KEYWORD for p in parameters)
    given, positional, at = set(), 0, 0
    while at < len(rest):
        arg = rest[at]
        if not is_flag(arg):
            positional, at = positional + 1, at + 1
            continue
        key, equals, _ = arg.lstrip("-").partition("=")
        key = key.replace("-", "_")
        bare = not equals and (at + 1 == len(rest) or is_flag(rest[at + 1]))
        at += 1 if equals or bare else 2
        if key in named or (bare and key.startswith("no") and key[2:] in named):
            given.add(key[2:] if key not in named else key)
        elif not varkw:
            close = difflib.get_close_matches(key, named, n=1, cutoff=0.75)
            hint = f" (did you mean --{close[0].replace('_', '-')}?)" if close else ""
            flag = "--" + key.replace("_", "-") if key.replace("_", "").isalnum() else "this flag"
            raise UsageError(f"{command} has no option {flag}{hint}: see {command} --help")
    room = [p.name for p in parameters if p.kind == p.POSITIONAL_OR_KEYWORD and p.name not in given]
    if not varargs and positional > len(room):
        output = " (to write to a file, use --output FILE)" if "output" in named else ""
        raise UsageError(
            f"{command} got an unexpected argument{output}: it takes at most {len(room)} "
            f"argument{'s' * (len(room) != 1)} besides its flags, not {positional}; see {command} --help"
        )
    return list(args)


def command_words(root: Any, args: list[str]) -> tuple[list[str], Any, list[str]]:
    """The command's words (``runeq configure setup``), the method fire will call, and its arguments.

    The method is None when the words stop at a group (fire then shows its help).
    An unknown command is a ``UsageError`` that never shows the word, only the command it is close to.
    """
    import difflib
    import inspect

    words, target, rest = ["runeq"], root, list(args)
    while not inspect.ismethod(target):
        if not rest or is_flag(rest[0]):
            return words, None, rest
        word = rest.pop(0)
        commands = command_names(target)
        if word.replace("-", "_") not in commands:
            # the word is never shown: it may be a secret in the wrong place
            close = difflib.get_close_matches(word.replace("-", "_"), commands, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"{' '.join(words)} has no command by that name{hint}: use one of {', '.join(commands)}")
        words.append(word)
        target = getattr(target, word.replace("-", "_"))
    return words, target, rest


def command_names(group: Any) -> list[str]:
    """The commands of a group of the command line (its methods and subgroups), sorted.

    >>> from runeq_fn.cli import Runeq
    >>> command_names(Runeq().configure)
    ['get', 'set', 'setup']
    """
    return sorted(name for name in dir(group) if not name.startswith("_"))


def is_flag(arg: str) -> bool:
    """Whether fire reads an argument as a flag (a negative number is not one).

    >>> [is_flag(a) for a in ("--output", "-h", "-5", "x")]
    [True, True, False, False]
    """
    return arg.startswith("--") or (len(arg) > 1 and arg[0] == "-" and arg[1].isalpha())


def named_parameters(function: Callable[..., Any]) -> list[str]:
    """A function's own parameter names (not ``*args``/``**kwargs``): a command's options.

    >>> from runeq_fn.cli import Runeq
    >>> named_parameters(Runeq().fetch)[:3]
    ['resource', 'format', 'output']
    """
    import inspect

    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in inspect.signature(function).parameters.values() if p.kind in kinds]


def unknown_parameters(flags: Iterable[str], options: Iterable[str], command: str = "runeq fetch") -> list[str]:
    """One warning per flag that is not a V1 query parameter; a flag like one of ``options`` is refused.

    A mistyped option must not quietly become a query parameter (``--resum``
    would pull from the start into the file being resumed), and neither must a
    config key: a secret in the query string ends up in server and proxy logs.
    The value is never shown.

    >>> unknown_parameters(["patient_id", "colour", "patient"], ["output", "resume"])
    ['--colour is not a Stream API V1 parameter: sent as typed', '--patient is not a Stream API V1 parameter: sent as typed (did you mean --patient-id?)']
    >>> unknown_parameters(["resum"], ["output", "resume"])
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: --resum is not an option of runeq fetch: did you mean --resume?
    >>> unknown_parameters(["access_token_secret"], ["output"])
    Traceback (most recent call last):
    ...
    runeq_fn.errors.UsageError: --access-token-secret is a config key, not a query parameter: put credentials and settings in the config (runeq configure setup) or pass --config FILE
    """
    import difflib

    from ..resources import PARAMETERS

    warnings = []
    for flag in flags:
        name = flag.replace("-", "_")
        if name in PARAMETERS:
            continue
        shown = "--" + name.replace("_", "-")
        if name in KNOWN_KEYS:
            raise UsageError(
                f"{shown} is a config key, not a query parameter: put credentials and settings in the config "
                "(runeq configure setup) or pass --config FILE"
            )
        option = difflib.get_close_matches(name, options, n=1, cutoff=0.75) or [
            o for o in options if len(name) >= 3 and (o.startswith(name) or name.startswith(o))
        ]
        if option:
            raise UsageError(f"{shown} is not an option of {command}: did you mean --{option[0]}?")
        near = difflib.get_close_matches(name, sorted(PARAMETERS), n=1, cutoff=0.7)
        hint = f" (did you mean --{near[0].replace('_', '-')}?)" if near else ""
        warnings.append(f"{shown} is not a Stream API V1 parameter: sent as typed{hint}")
    return warnings


@contextmanager
def arguments_as_text() -> Iterator[None]:
    """Make fire pass each argument as typed, instead of guessing numbers, lists and booleans.

    Secrets such as ``1e5`` or ``0x10`` must reach the file unchanged. fire's
    ``SetParseFn`` decorator would do this per command, but fire then lists the
    decorator's metadata as a command group in the help; so fire's default
    parser is swapped for ``str`` while the command runs.
    """
    from fire import parser

    guess = parser.DefaultParseValue
    parser.DefaultParseValue = str
    try:
        yield
    finally:
        parser.DefaultParseValue = guess
