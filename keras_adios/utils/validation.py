"""Argument validation shared by every keras_adios module.

Each checker raises a `ValueError` that names the argument, says what is
allowed and what was received (`"... Received: name=value"`), and returns the
value converted to its canonical Python type. `bool` is never accepted as a
number (`True` is an `int` in Python, but `num_masks=True` is a mistake).

Example:

```python
from keras_adios.utils import validation

validation.check_int(4, "num_masks", minimum=2)          # 4
validation.check_number(0.5, "mask_ratio", 0.0, 1.0, strict=True)  # 0.5
validation.check_choice("group", "norm", ("group", "instance", "none"))
```
"""

import numpy as np


def is_int(value):
    """Whether `value` is a Python or NumPy integer (not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value):
    """Whether `value` is a real Python or NumPy number (not a bool)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def check_int(value, name, minimum=None, maximum=None, allow_none=False):
    """An integer in `[minimum, maximum]` (either bound optional).

    Args:
        value: the argument.
        name: its name, for the message.
        minimum: optional smallest allowed value.
        maximum: optional largest allowed value.
        allow_none: whether `None` is allowed (and returned as is).

    Returns:
        `int(value)`, or None.
    """
    if value is None and allow_none:
        return None
    if not is_int(value) or (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        raise ValueError(
            f"`{name}` must be {'None or ' if allow_none else ''}an integer"
            f"{_range_text(minimum, maximum, strict=False)}. Received: {name}={value!r}"
        )
    return int(value)


def check_positive_int(value, name, allow_none=False):
    """An integer >= 1 (the most common case of `check_int`)."""
    return check_int(value, name, minimum=1, allow_none=allow_none)


def check_number(value, name, minimum=None, maximum=None, strict=False, allow_none=False):
    """A real number in `[minimum, maximum]` (open interval with `strict`).

    Returns:
        `float(value)`, or None.
    """
    if value is None and allow_none:
        return None
    ok = is_number(value) and np.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if strict else value <= maximum
    if not ok:
        raise ValueError(
            f"`{name}` must be {'None or ' if allow_none else ''}a finite number"
            f"{_range_text(minimum, maximum, strict)}. Received: {name}={value!r}"
        )
    return float(value)


def check_choice(value, name, choices):
    """One of `choices` (compared with `==`)."""
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {tuple(choices)}. Received: {name}={value!r}"
        )
    return value


def check_bool(value, name):
    """A `bool` (NumPy bools included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return bool(value)


def _range_text(minimum, maximum, strict):
    op = "<" if strict else "<="
    if minimum is not None and maximum is not None:
        return f" with {minimum} {op} value {op} {maximum}"
    if minimum is not None:
        return f" {'>' if strict else '>='} {minimum}"
    if maximum is not None:
        return f" {'<' if strict else '<='} {maximum}"
    return ""
