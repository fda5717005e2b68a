"""The estimator base: shared parameters, ``fit``, the auxiliary heads, model files.

- :mod:`.model`: :class:`PETNetworkModel`, the shared parameters and the use of a fitted
  network (auxiliary heads, file predictions, model files, pickling);
- :mod:`.estimator`: :class:`MultiTaskPETBase`, ``fit`` in five steps;
- :mod:`.fitting`: the parts of a fit that the parameters choose (network, loaders,
  callbacks, the refit of T4);
- :mod:`.files`: predictions for whole files, masks on each file's grid;
- :mod:`.params`: the parameter table; :mod:`.persistence`: model records.
"""

from .estimator import MultiTaskPETBase, extend_parameters
from .model import PETNetworkModel

__all__ = ["MultiTaskPETBase", "PETNetworkModel", "extend_parameters"]
