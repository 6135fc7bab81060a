"""Self-supervised objectives ADIOS trains against: SimCLR, BYOL, SimSiam."""

from keras_adios.objectives.byol import BYOL
from keras_adios.objectives.objective import Objective
from keras_adios.objectives.simclr import SimCLR
from keras_adios.objectives.simsiam import SimSiam


def get(identifier):
    """Returns an objective from a name ("simclr", "byol", "simsiam") or instance."""
    if isinstance(identifier, Objective):
        return identifier
    names = {"simclr": SimCLR, "byol": BYOL, "simsiam": SimSiam}
    if isinstance(identifier, str) and identifier.lower() in names:
        return names[identifier.lower()]()
    raise ValueError(
        "`objective` must be a keras_adios.objectives.Objective or one of "
        f"{sorted(names)}. Received: objective={identifier!r}"
    )
