"""How a fitted petmtl estimator is used: one pass of the network for what is asked.

:class:`PredictionMixin` holds the methods that every estimator shares (the tumour
masks, the pathology, the reconstruction and the feature vector), all built on
:meth:`~PredictionMixin._predict`, which feeds X through the fitted network once
(see :class:`petmtl._forward.Forward`).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._forward import Forward, InputScaling, autocast_dtype
from ._input import PathVolumes, as_volumes
from ._outputs import segment_files
from ._runtime import memory_guard, resolve_memory_format


class PredictionMixin:
    """The prediction methods shared by the petmtl estimators."""

    def _forward(self, module=None) -> Forward:
        """The fitted network (or ``module``) with the scaling, layout and precision of fit."""
        return Forward(
            self.module_ if module is None else module, self.device_,
            InputScaling(self.intensity_shift_, self.intensity_scale_),
            resolve_memory_format(self.memory_format, self.device_),
            autocast_dtype(self.amp, self.device_))

    def _as_volumes(self, X):
        return as_volumes(X, volume_shape=self.volume_shape, spacing=self.spacing,
                          input_shape=self.input_shape, crop_center=self.crop_center,
                          interpolation=self.interpolation, num_workers=self.num_workers,
                          cache=self.cache_dir)

    def _fitted_volumes(self, X):
        check_is_fitted(self)
        volumes = self._as_volumes(X)
        # The network is fully convolutional, so volumes of another shape are fine;
        # flattened 2-D input, however, must match the layout seen in fit.
        flat = self.volume_shape is None and volumes.shape[1:3] == (1, 1)
        if flat and volumes.shape[1:] != self.volume_shape_:
            raise ValueError(
                f"X has {int(np.prod(volumes.shape[1:]))} features, but "
                f"{type(self).__name__} is expecting {self.n_features_in_} features as input")
        return volumes

    def _predict(self, X, outputs) -> dict[str, np.ndarray]:
        """The requested network outputs for X, from one pass (see :meth:`Forward.predict`)."""
        volumes = self._fitted_volumes(X)
        with memory_guard("prediction", device=self.device_, settings=self._memory_settings(),
                          shape=volumes.shape[1:]):
            return self._forward().predict(volumes, outputs, batch_size=2 * self.batch_size)

    def _predict_files(self, X, outputs, *, reference_masks=None, overlap: float = 0.25):
        """Per PET file of ``X``, every requested output from one read of it.

        See :meth:`petmtl._forward.Forward.predict_files`; used by the command line.
        """
        volumes = self._fitted_volumes(X)
        if not isinstance(volumes, PathVolumes):
            raise TypeError("X must be a sequence of PET file paths here")
        with memory_guard("prediction", device=self.device_, settings=self._memory_settings()):
            yield from self._forward().predict_files(volumes, outputs,
                                                     batch_size=2 * self.batch_size,
                                                     reference_masks=reference_masks,
                                                     overlap=overlap)

    def segment_proba(self, X, *, overlap: float = 0.25) -> np.ndarray | list:
        """Tumour probability maps, float32 of shape (n, D, H, W) like X.

        For file paths: a list of maps on each file's original grid, from sliding
        windows over the whole resampled scan (``overlap`` as in :meth:`segment`).
        """
        return self.segment(X, threshold=None, overlap=overlap)

    def segment(self, X, threshold: float | None = 0.5, *, output_dir=None,
                overlap: float = 0.25):
        """Binary tumour masks (uint8) of X's spatial shape, ``proba >= threshold``.

        Parameters
        ----------
        X : array-like or sequence of path-like
        threshold : float in [0, 1] or None, default=0.5
            None returns the probabilities (as :meth:`segment_proba`).
        output_dir : str or path-like, optional
            File input only: write each mask as ``<name>_seg.nii.gz`` on its PET's
            grid (header copied) and return the written paths.
        overlap : float in [0, 1), default=0.25
            File input only: fraction of a window that the next one overlaps (0.25 as
            MONAI; 0.5 as nnU-Net, 2.4 times the windows). Windows are Gaussian-blended,
            and windows of air (every voxel below 0.1 SUV) are not run.

        Returns
        -------
        ndarray of shape (n, D, H, W), or list
            For file paths, a list of masks on each file's original grid (sliding
            windows over the whole resampled scan), or the written paths.
        """
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        self._require("segmentation")
        volumes = self._fitted_volumes(X)
        if isinstance(volumes, PathVolumes):
            with memory_guard("segmentation", device=self.device_,
                              settings=self._memory_settings()):
                return segment_files(self._forward(), volumes, batch_size=2 * self.batch_size,
                                     threshold=threshold, output_dir=output_dir,
                                     overlap=overlap)
        if output_dir is not None:
            raise ValueError("output_dir needs X as PET file paths (masks are written on "
                             "each file's original grid); got arrays")
        proba = self._predict(volumes, ("segmentation",))["segmentation"]
        return proba if threshold is None else (proba >= threshold).astype(np.uint8)

    def predict_pathology_proba(self, X) -> np.ndarray:
        """Pathology class probabilities, shape (n, n_classes) ordered as
        ``pathology_classes_``."""
        self._require("pathology")
        return self._pathology_proba(self._predict(X, ("pathology",))["pathology"])

    @staticmethod
    def _pathology_proba(logits: np.ndarray) -> np.ndarray:
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim == 1:
            logits = logits[None]
        if logits.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.column_stack([1.0 - p, p])
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def predict_pathology(self, X) -> np.ndarray:
        """Predicted pathology label of each volume, among ``pathology_classes_``."""
        return self.pathology_classes_[self.predict_pathology_proba(X).argmax(axis=1)]

    def reconstruct(self, X) -> np.ndarray:
        """T1 reconstruction in the input's intensity units, shape (n, D, H, W)."""
        self._require("reconstruction")
        recon = self._predict(X, ("reconstruction",))["reconstruction"]
        return InputScaling(self.intensity_shift_, self.intensity_scale_).invert(recon)

    def transform(self, X) -> np.ndarray:
        """The multi-scale feature vector that T4 reads, shape (n, n_features).

        The features have X's floating dtype (float32 unless X is float64).
        """
        dtype = X.dtype if getattr(X, "dtype", None) == np.float64 else np.float32
        return self._predict(X, ("features",))["features"].astype(dtype, copy=False)

    def _require(self, task: str) -> None:
        check_is_fitted(self)
        if task not in self.tasks:
            raise AttributeError(
                f"the {task!r} task was disabled (tasks={tuple(self.tasks)!r}); refit with "
                f"{task!r} in tasks to use this method")
