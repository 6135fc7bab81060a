"""Self-supervised objectives ADIOS trains against: SimCLR, BYOL, SimSiam, VICReg.

Every objective implements the `Objective` contract (see its docstring):
`build` creates the heads, `encode` embeds a view, `loss` compares the
unmasked first view with a masked second view.
"""

from keras_adios.objectives.byol import BYOL
from keras_adios.objectives.objective import Embedding
from keras_adios.objectives.objective import Objective
from keras_adios.objectives.simclr import SimCLR
from keras_adios.objectives.simsiam import SimSiam
from keras_adios.objectives.vicreg import VICReg

#: Objectives by name, for `get` and the command line.
OBJECTIVES = {"simclr": SimCLR, "byol": BYOL, "simsiam": SimSiam, "vicreg": VICReg}


def get(identifier, **kwargs):
    """An objective from a name ("simclr", ...) and constructor arguments, or an instance.

    Args:
        identifier: an `Objective` (returned as is) or a name in `OBJECTIVES`
            (case-insensitive).
        **kwargs: constructor arguments for a name.

    Example:

    ```python
    objective = keras_adios.objectives.get("simclr", temperature=0.5)
    ```
    """
    if isinstance(identifier, Objective):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in OBJECTIVES:
        return OBJECTIVES[identifier.lower()](**kwargs)
    raise ValueError(
        "`objective` must be a keras_adios.objectives.Objective or one of "
        f"{sorted(OBJECTIVES)}. Received: objective={identifier!r}"
    )


__all__ = ["BYOL", "Embedding", "OBJECTIVES", "Objective", "SimCLR", "SimSiam", "VICReg", "get"]
