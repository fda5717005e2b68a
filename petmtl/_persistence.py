"""How a fitted petmtl estimator is kept: safe model files and pickling.

:class:`PersistenceMixin` writes the estimator as a :mod:`petmtl.serialization` record
(tensors plus JSON) and rebuilds it from one, and moves a GPU-fitted network to the CPU
when pickled.
"""

from __future__ import annotations

import copy
import os

import torch

from . import serialization
from ._runtime import resolve_memory_format

# What a model file written before a parameter existed meant by its absence.
LEGACY_PARAMS = {"outcome_descriptors": False, "pathology_grid": 1, "class_weight": None,
                 "early_stopping_score": "loss", "refit_outcome": False,
                 "global_pooling": "avg", "peritumoral_mm": 0.0}


class PersistenceMixin:
    """Model files and pickling, shared by the petmtl estimators."""

    def save(self, path) -> str:
        """Write a safe model file (tensors + JSON); see :func:`petmtl.serialization.save`.

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        str
            ``path``.
        """
        return serialization.write_record(path, self._record())

    @classmethod
    def load(cls, path, *, device=None):
        """Read a model file written by :meth:`save`; see :func:`petmtl.serialization.load`.

        Parameters
        ----------
        path : str or path-like
        device : str or torch.device, optional
            Device for the network; default: the training device if available, else
            the CPU.

        Returns
        -------
        estimator
        """
        record = serialization.read_record(path)
        if record.class_name != cls.__name__:
            raise ValueError(f"{os.fspath(path)} holds a {record.class_name!r}, expected a "
                             f"{cls.__name__}")
        return cls._from_model_record(record, device=device, source=os.fspath(path))

    @classmethod
    def _from_model_record(cls, record: serialization.ModelRecord, *, device=None,
                           source: str = "state"):
        """The estimator a :class:`~petmtl.serialization.ModelRecord` describes."""
        unknown = sorted(set(record.params) - set(cls().get_params(deep=False)))
        if unknown:
            raise ValueError(f"{source} has parameters {unknown} that this petmtl version does "
                             "not know; upgrade petmtl to read it")
        params = {**LEGACY_PARAMS, **record.params}
        estimator = cls(**{k: v for k, v in params.items() if k in cls._get_param_names()})
        for name, value in record.attributes.items():
            setattr(estimator, name, value)
        if record.state_dict is not None:
            estimator._load_weights(record.state_dict, device, source)
        return estimator

    def _load_weights(self, state_dict: dict, device, source: str) -> None:
        saved = getattr(self, "device_", torch.device("cpu"))
        if device is None:
            usable = saved.type != "cuda" or torch.cuda.is_available()
            target = saved if usable else torch.device("cpu")
        else:
            target = torch.device(device)
        module = self._build_module()
        try:
            module.load_state_dict(state_dict)
        except RuntimeError as exc:
            raise ValueError(f"{source}: the stored weights do not match the network "
                             f"described by its parameters ({str(exc).splitlines()[0]})"
                             ) from None
        # The same layout as in fit: convolution kernels differ between layouts in the
        # last bits, and a loaded model must predict exactly as the saved one did.
        memory_format = resolve_memory_format(self.memory_format, target)
        self.module_ = module.to(target, memory_format=memory_format).eval()
        self.device_ = target

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if "module_" in state and self.device_.type != "cpu":
            state["module_"] = copy.deepcopy(self.module_).cpu()
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        # A model fitted on a GPU is pickled with CPU tensors (see __getstate__) and
        # comes back on the CPU when the unpickling machine has no GPU.
        if "module_" in state and state["device_"].type == "cuda":
            if torch.cuda.is_available():
                self.module_.to(self.device_)
            else:
                self.device_ = torch.device("cpu")
