"""The parameters and the fitted network of the petmtl estimators: heads, files, model files.

:class:`PETNetworkModel` holds every parameter the binary and the survival estimators
share and everything that uses a fitted network: the prediction methods of the auxiliary
heads, :meth:`~PETNetworkModel.predict_files`, model files and pickling. A loaded model
file is one of these with its network and fitted attributes;
:class:`~petmtl._base.MultiTaskPETBase` adds ``fit``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .. import serialization
from .._forward import InputScaling, Views, flip_views, forward_of
from .._input import PathVolumes, as_volumes, covariate_matrix, split_table
from .._runtime import memory_guard
from ..io import DEFAULT_OVERLAP
from . import fitting, persistence
from .files import (
    check_file_outputs,
    check_reference_masks,
    collect_file_outputs,
    file_formats,
    mask_targets,
    mean_class_probabilities,
    network_outputs_for,
    segment_files,
    shared_file_outputs,
)
from .params import PARAMETER_CONSTRAINTS, validate_params


class PETNetworkModel(TransformerMixin, BaseEstimator):
    """The shared parameters and the use of a fitted network (see the module docstring).

    A concrete estimator says what its outcome outputs are: ``_outcome_file_outputs``
    (the names :meth:`predict_files` accepts), ``_default_file_outputs`` and
    :meth:`_outcome_values`, which turns T4's raw outputs into one of them.
    """

    _parameter_constraints: dict = PARAMETER_CONSTRAINTS
    _outcome_file_outputs: tuple = ()
    _default_file_outputs: tuple = ()

    def __init__(self, lam=0.3, *, task_weights=None,
                 tasks=("reconstruction", "segmentation", "pathology"),
                 outcome_features="both", base_width=16, depth=4, norm="batch", dropout=0.5,
                 segmentation_prior=0.01, outcome_descriptors=True, global_pooling="avg",
                 peritumoral_mm=0.0, lesion_burden=None, pathology_grid=2,
                 refit_outcome=True, image_column="image", clinical_fusion="late",
                 clinical_categorical=None, learning_rate=1e-3, weight_decay=1e-4,
                 lr_schedule=None, grad_clip=None, weight_averaging=None, n_members=1,
                 batch_size=4, max_epochs=100, early_stopping=True,
                 early_stopping_score="loss", validation_fraction=0.2,
                 validation_stratify="outcome", n_iter_no_change=20, augment=True, tta=False,
                 intensity_scale="auto", dice_smooth=1.0, seg_bce_weight=0.5,
                 volume_shape=None, device="auto", amp="auto", verbose=0, random_state=None,
                 checkpoint_path=None, checkpoint_every=1, warm_start=False, resume=None,
                 spacing=2.0, input_shape=(64, 64, 64), crop_center="body",
                 interpolation="linear", num_workers=0, cache_dir=None,
                 memory_format="auto", distributed="auto"):
        self.lam = lam
        self.task_weights = task_weights
        self.tasks = tasks
        self.outcome_features = outcome_features
        self.base_width = base_width
        self.depth = depth
        self.norm = norm
        self.dropout = dropout
        self.segmentation_prior = segmentation_prior
        self.outcome_descriptors = outcome_descriptors
        self.global_pooling = global_pooling
        self.peritumoral_mm = peritumoral_mm
        self.lesion_burden = lesion_burden
        self.pathology_grid = pathology_grid
        self.refit_outcome = refit_outcome
        self.image_column = image_column
        self.clinical_fusion = clinical_fusion
        self.clinical_categorical = clinical_categorical
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.grad_clip = grad_clip
        self.weight_averaging = weight_averaging
        self.n_members = n_members
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.early_stopping_score = early_stopping_score
        self.validation_fraction = validation_fraction
        self.validation_stratify = validation_stratify
        self.n_iter_no_change = n_iter_no_change
        self.augment = augment
        self.tta = tta
        self.intensity_scale = intensity_scale
        self.dice_smooth = dice_smooth
        self.seg_bce_weight = seg_bce_weight
        self.volume_shape = volume_shape
        self.device = device
        self.amp = amp
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.warm_start = warm_start
        self.resume = resume
        self.spacing = spacing
        self.input_shape = input_shape
        self.crop_center = crop_center
        self.interpolation = interpolation
        self.num_workers = num_workers
        self.cache_dir = cache_dir
        self.memory_format = memory_format
        self.distributed = distributed

    def _validate_params(self) -> None:
        """Check every parameter against ``_parameter_constraints`` (scikit-learn's name).

        Raises a ValueError or TypeError naming the first invalid parameter, what it must
        be and what it is; ``fit`` calls it before reading any data.
        """
        validate_params(self)

    def _build_module(self):
        return fitting.build_network(
            self.get_params(deep=False),
            n_pathology_classes=None if self.pathology_classes_ is None
            else len(self.pathology_classes_),
            n_outcome_outputs=self.n_outcome_outputs_, input_shift=self.intensity_shift_,
            input_scale=self.intensity_scale_,
            n_clinical=getattr(self, "n_clinical_features_", 0))

    def _memory_settings(self) -> str:
        return (f"batch_size={self.batch_size}, base_width={self.base_width}, "
                f"depth={self.depth}")

    # ----------------------------------------------------------------- input
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

    def _inputs(self, X):
        """The volumes of X and their preprocessed covariates (None without) for the
        fitted network; X may be a table of images and covariates (``image_column``)."""
        check_is_fitted(self)
        images, covariates = split_table(X, self.image_column)
        volumes = self._fitted_volumes(images)
        return volumes, covariate_matrix(getattr(self, "clinical_preprocessor_", None),
                                         covariates)

    def _networks(self) -> list:
        """The fitted networks: an ensemble's ``members_``, or ``module_`` alone (which a
        user may have replaced)."""
        members = getattr(self, "members_", None) or []
        return members if len(members) > 1 else [self.module_]

    def _views(self) -> Views:
        """The fitted networks (ensemble members) and test-time flips to combine."""
        return Views([forward_of(self, m) for m in self._networks()],
                     flip_views(fitting.tta_axes(self.tta)))

    def _network_views(self, X, outputs) -> dict[str, np.ndarray]:
        """Every view's raw outputs for X (see :meth:`petmtl._forward.Views.predict`)."""
        volumes, clinical = self._inputs(X)
        with memory_guard("prediction", device=self.device_, settings=self._memory_settings(),
                          shape=volumes.shape[1:]):
            return self._views().predict(volumes, outputs, batch_size=2 * self.batch_size,
                                         clinical=clinical)

    def _network_outputs(self, X, outputs) -> dict[str, np.ndarray]:
        """The requested outputs for X, combined over members and flips: per-voxel outputs
        averaged, pathology as averaged probabilities, the outcome by
        :meth:`_combine_outcomes`, features side by side."""
        return self._combine(self._network_views(X, outputs))

    def _combine(self, views: dict) -> dict:
        out = dict(views)
        if "pathology" in views:
            out["pathology"] = mean_class_probabilities(views["pathology"])
        if "outcome" in views:
            out["outcome"] = self._combine_outcomes(views["outcome"])
        return out

    def _combine_outcomes(self, views: np.ndarray) -> np.ndarray:
        """One outcome output from T4's outputs of several views (first axis)."""
        raise NotImplementedError

    def _require(self, task: str) -> None:
        check_is_fitted(self)
        if task not in self.tasks:
            raise AttributeError(
                f"the {task!r} task was disabled (tasks={tuple(self.tasks)!r}); refit with "
                f"{task!r} in tasks to use this method")

    # ------------------------------------------------------------ the heads
    def segment(self, X, threshold: float | None = 0.5, *, output_dir=None,
                overlap: float = DEFAULT_OVERLAP, output_format: str = "nifti"):
        """Binary tumour masks (uint8) of X's spatial shape, ``proba >= threshold``.

        Parameters
        ----------
        X : array-like of shape (n, x, y, z), or a sequence of NIfTI paths
            PET volumes as in :meth:`fit`.
        threshold : float in [0, 1] or None, default=0.5
            None returns the probabilities (as :meth:`segment_proba`).
        output_dir : str or path-like, optional
            File input only: write each mask as ``<name>_seg.nii.gz`` on its PET's
            grid (header copied) and return the written paths.
        overlap : float in [0, 1), default=0.25
            File input only: fraction of a window that the next one overlaps
            (:data:`petmtl.io.DEFAULT_OVERLAP`; 0.5 as nnU-Net runs 2.4 times the
            windows). Windows are Gaussian-blended, and windows of air (every voxel
            below 0.1 SUV) are not run.
        output_format : {"nifti", "dicom-seg", "auto"}, default="nifti"
            With ``output_dir``: NIfTI files, or DICOM SEG files (``<name>_seg.dcm``,
            :func:`petmtl.io.write_dicom_seg`) that reference each PET series, for X given
            as DICOM series folders; viewers such as 3D Slicer and OHIF overlay them
            (binary segments, or fractional ones with ``threshold=None``). ``"auto"``: a
            SEG for each DICOM folder, NIfTI for each NIfTI file.

        Returns
        -------
        ndarray of shape (n, x, y, z), or list
            For file paths, a list of masks on each file's original grid (sliding
            windows over the whole resampled scan), or the written paths.
        """
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        self._require("segmentation")
        volumes = self._fitted_volumes(split_table(X, self.image_column)[0])
        if isinstance(volumes, PathVolumes):
            with memory_guard("segmentation", device=self.device_,
                              settings=self._memory_settings()):
                return segment_files(self._views(), volumes, batch_size=2 * self.batch_size,
                                     threshold=threshold, output_dir=output_dir,
                                     overlap=overlap, output_format=output_format)
        if output_dir is not None or output_format != "nifti":
            raise ValueError("output_dir needs X as PET file paths (masks are written on "
                             "each file's original grid); got arrays")
        with memory_guard("segmentation", device=self.device_, settings=self._memory_settings(),
                          shape=volumes.shape[1:]):
            proba = self._combine(self._views().predict(
                volumes, ("segmentation",), batch_size=2 * self.batch_size))["segmentation"]
        return proba if threshold is None else (proba >= threshold).astype(np.uint8)

    def segment_proba(self, X, *, overlap: float = DEFAULT_OVERLAP) -> np.ndarray | list:
        """Tumour probability maps, float32 of shape (n, x, y, z) like X.

        For file paths: a list of maps on each file's original grid, from sliding
        windows over the whole resampled scan (``overlap`` as in :meth:`segment`).
        """
        return self.segment(X, threshold=None, overlap=overlap)

    def predict_pathology_proba(self, X) -> np.ndarray:
        """Pathology class probabilities, shape (n, n_classes) ordered as
        ``pathology_classes_``."""
        self._require("pathology")
        return self._network_outputs(X, ("pathology",))["pathology"]

    def predict_pathology(self, X) -> np.ndarray:
        """Predicted pathology label of each volume, among ``pathology_classes_``."""
        return self.pathology_classes_[self.predict_pathology_proba(X).argmax(axis=1)]

    def reconstruct(self, X) -> np.ndarray:
        """T1 reconstruction in the input's intensity units, shape (n, x, y, z)."""
        self._require("reconstruction")
        recon = self._network_outputs(X, ("reconstruction",))["reconstruction"]
        return InputScaling(self.intensity_shift_, self.intensity_scale_).invert(recon)

    def transform(self, X) -> np.ndarray:
        """The multi-scale feature vector that T4 reads, shape (n, n_features).

        The features have X's floating dtype (float32 unless X is float64). An ensemble
        (``n_members > 1``) gives every member's vector side by side.
        """
        dtype = X.dtype if getattr(X, "dtype", None) == np.float64 else np.float32
        return self._network_outputs(X, ("features",))["features"].astype(dtype, copy=False)

    # ------------------------------------------------------- file prediction
    def _outcome_values(self, raw: np.ndarray, name: str, times=None) -> np.ndarray:
        """An outcome output of :meth:`predict_files` from T4's raw outputs (n, k)."""
        raise NotImplementedError

    def predict_files(self, X, *, outputs=None, masks=None, threshold: float = 0.5,
                      times=None, output_dir=None, names=None,
                      overlap: float = DEFAULT_OVERLAP, output_format: str = "nifti") -> dict:
        """Every requested output for PET files, reading each file once.

        The image-level heads read each file's crop window (as :meth:`predict` does), the
        segmentation slides windows over the whole resampled scan (as :meth:`segment`
        does), both from one read of the file; masks come back on each file's own grid.

        Parameters
        ----------
        X : sequence of path-like
            PET files (NIfTI), as for :meth:`fit`.
        outputs : sequence of str, optional
            Among the estimator's outcome outputs (binary: ``"proba"``, ``"label"``,
            ``"decision"``; survival: ``"risk"``, ``"survival"``) and ``"pathology"``,
            ``"pathology_proba"``, ``"masks"``, ``"mask_proba"``, ``"features"``.
            Default: the outcome's default outputs and, with the pathology task,
            ``"pathology"``.
        masks : sequence of (path-like or None), optional
            Reference masks, read against the same read of each PET and returned on its
            grid under ``"reference_masks"`` (None where absent).
        threshold : float in [0, 1], default=0.5
            ``"masks"`` are ``probability >= threshold``.
        times : array-like of float, optional
            Survival models: the times at which ``"survival"`` is evaluated.
        output_dir : str or path-like, optional
            Write ``"masks"`` (or ``"mask_proba"``) as NIfTI files there,
            ``<name>_seg.nii.gz``, and return their paths instead of arrays.
        names : sequence of str, optional
            The ``<name>`` of each written file (default: the PET files' names).
        overlap : float in [0, 1), default=0.25
            Sliding-window overlap of the segmentation (see :meth:`segment`).
        output_format : {"nifti", "dicom-seg", "auto"}, default="nifti"
            How masks are written to ``output_dir`` (see :meth:`segment`).

        With ``verbose`` set, a progress bar counts the files.

        Returns
        -------
        dict of str to ndarray or list
            One entry per output asked, first axis the files: arrays for the image-level
            outputs (e.g. ``"proba"`` of shape (n, 2)), lists of arrays (or paths) for
            masks.
        """
        check_is_fitted(self)
        wanted = check_file_outputs(
            outputs, outcome_outputs=self._outcome_file_outputs,
            default=(*self._default_file_outputs,
                     *(("pathology",) if "pathology" in self.tasks else ())),
            tasks=tuple(self.tasks), threshold=threshold)
        volumes, clinical = self._inputs(X)
        if not isinstance(volumes, PathVolumes):
            raise TypeError("X must be PET file paths (or a table of them) for "
                            "predict_files; use predict_proba, segment, ... for arrays")
        reference = None if masks is None else check_reference_masks(masks, len(volumes))
        formats = file_formats(volumes.paths, output_format)
        with memory_guard("prediction", device=self.device_, settings=self._memory_settings()):
            raw = collect_file_outputs(
                self._views(), volumes, network_outputs_for(wanted, self._outcome_file_outputs),
                batch_size=2 * self.batch_size,
                threshold=threshold if "masks" in wanted else None,
                targets=mask_targets(volumes.paths, output_dir, names, formats),
                reference_masks=reference, overlap=overlap, verbose=self.verbose,
                formats=formats, clinical=clinical)
        outcome = {}
        if "outcome" in raw:
            combined = self._combine_outcomes(np.stack(raw["outcome"], axis=1))
            outcome = {name: self._outcome_values(combined, name, times)
                       for name in wanted if name in self._outcome_file_outputs}
        return {**outcome, **shared_file_outputs(raw, wanted, self.pathology_classes_)}

    # ------------------------------------------------------------ model files
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
        return serialization.write_record(path, persistence.record_of(self))

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
        return serialization.load(path, device=device, expected=cls)

    @classmethod
    def _from_model_record(cls, record: serialization.ModelRecord, *, device=None,
                           source: str = "state"):
        """The estimator a :class:`~petmtl.serialization.ModelRecord` describes."""
        params = persistence.params_of_record(record, cls().get_params(deep=False),
                                              source=source)
        estimator = cls(**params)
        for name, value in persistence.attributes_of_record(record).items():
            setattr(estimator, name, value)
        if record.state_dict is not None:
            saved = getattr(estimator, "device_", torch.device("cpu"))
            members = []
            for state in persistence.member_states(record.state_dict, estimator.n_members):
                module, estimator.device_ = persistence.load_weights(
                    estimator._build_module(), state, saved_device=saved, device=device,
                    memory_format=estimator.memory_format, source=source)
                members.append(module)
            estimator.module_, estimator.members_ = members[0], members
        return estimator

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if "module_" in state and self.device_.type != "cpu":
            members = [copy.deepcopy(m).cpu() for m in self._networks()]
            state["module_"], state["members_"] = members[0], members
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        # A model fitted on a GPU is pickled with CPU tensors (see __getstate__) and
        # comes back on the CPU when the unpickling machine has no GPU.
        if "module_" in state and state["device_"].type == "cuda":
            if torch.cuda.is_available():
                for member in self._networks():
                    member.to(self.device_)
            else:
                self.device_ = torch.device("cpu")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "module_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

