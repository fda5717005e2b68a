"""The scikit-learn face of petmtl: :class:`MultiTaskPETEstimator`."""

from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _checkpoint, _inference, _paths, _runtime
from ._data import VolumeDataset
from ._params import validate_params
from ._validation import check_labels
from .losses import TASKS, task_weights
from .network import MultiTaskWNet
from .training import TrainingSetup, autocast_dtype


class MultiTaskPETEstimator(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Multi-task, multi-scale W-Net for outcome prediction in 3D PET (Amyar et al.).

    One shared 3D U-Net encoder feeds two decoders, T1 image reconstruction and
    T2 tumour segmentation (the W), a T3 pathology classifier on the bottleneck
    and the T4 outcome predictor, which combines tumour features (a CNN on the
    PET gated by the predicted tumour) with pooled features of three scales. The
    loss is ``alpha*Lrecon + beta*Lseg + omega*Lclass + lam*Lpredict``.

    Parameters
    ----------
    lam : float, default=0.3
        Weight of the outcome loss (the paper's lambda; 0.3 was its best). The
        remaining ``1 - lam`` is shared equally by the enabled auxiliary tasks,
        so ``alpha = beta = omega = (1 - lam) / 3`` with all four tasks; see
        :func:`petmtl.losses.task_weights`.
    task_weights : dict or None, default=None
        Explicit weights per task (keys among ``"reconstruction"``,
        ``"segmentation"``, ``"pathology"``, ``"outcome"``) overriding ``lam``;
        missing keys of enabled tasks default to 0.
    tasks : tuple of str, default=("reconstruction", "segmentation", "pathology")
        Enabled auxiliary tasks; the outcome task T4 is always on.
    outcome_features : {"both", "global", "tumor"}, default="both"
        Inputs of T4: multi-scale global features, tumour features or both
        (see :class:`petmtl.network.MultiTaskWNet`).
    base_width : int, default=16
        Feature maps of the first encoder level (paper: 64).
    depth : int, default=4
        Encoder levels including the bottleneck (paper: 5).
    norm : {"batch", "instance", "group"} or None, default="batch"
        Normalisation after each convolution; None is the paper's plain network.
    dropout : float, default=0.5
        Dropout after the bottleneck and between dense layers (paper: 0.5).
    learning_rate : float, default=1e-3
        Adam learning rate (paper: 1e-4).
    weight_decay : float, default=1e-4
        Decoupled weight decay (AdamW); 0 gives the paper's plain Adam.
    batch_size : int, default=4
        Training mini-batch (paper: 4); prediction uses twice this.
    max_epochs : int, default=100
        Upper bound on epochs (paper: 1500).
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the samples (stratified by outcome)
        and stop when the validation loss has not improved for
        ``n_iter_no_change`` epochs, restoring the best weights.
    validation_fraction : float, default=0.2
    n_iter_no_change : int, default=20
        Early-stopping patience (paper: 70).
    augment : bool, default=True
        Random flips along the three axes while training.
    intensity_scale : "auto", float or None, default="auto"
        Input scaling: "auto" standardises with the training voxels' mean and
        standard deviation; a number divides the SUV by it; None feeds raw values.
    dice_smooth : float, default=1.0
        Smoothing epsilon of the Dice loss.
    seg_bce_weight : float, default=0.5
        Weight of a voxel-wise cross-entropy added to the Dice loss (0 = paper).
    volume_shape : tuple of 3 int or None, default=None
        Shape of each volume when X is passed 2-D as flattened volumes.
    device : str or torch.device, default="auto"
        "auto" uses CUDA when available, else the CPU.
    amp : "auto" or bool, default="auto"
        bf16 autocast; "auto" enables it on CUDA only.
    verbose : int, default=0
        1 shows a progress bar with the live losses.
    random_state : int, RandomState or None, default=None
        Seeds weights, splits, shuffling, dropout and augmentation: the same
        value gives bit-identical models on the CPU.
    checkpoint_path : str, os.PathLike or None, default=None
        Checkpoint file written atomically every ``checkpoint_every`` epochs and
        at the end (weights, optimizer, epochs, early stopping, RNG states,
        ``history``; loadable with ``torch.load(weights_only=True)``).
    checkpoint_every : int, default=1
    warm_start : bool, default=False
        Continue the previous fit (weights, optimizer, epoch counter, early
        stopping); ``max_epochs`` counts all epochs of the run.
    resume : str, os.PathLike or None, default=None
        Continue the run saved in this checkpoint (same data and architecture;
        on the CPU, bit-identical to an uninterrupted run). Overrides
        ``warm_start``. See the Reliability page of the docs.
    spacing : float or tuple of 3 float, default=2.0
        Path input only: voxel size (mm) every file is resampled to, after
        reorientation to RAS+ (trilinear for PET, nearest for masks).
    input_shape : tuple of 3 int, default=(64, 64, 64)
        Path input only: the network input. Fit and the outcome/pathology heads
        read a window of this shape centred by ``crop_center`` (zero-padded);
        ``segment`` slides it over the whole resampled volume.
    crop_center : {"body", "center", "auto", "foreground"}, default="body"
        Path input only: the window's centre (see :func:`petmtl.io.find_center`).
        "body" and "center" give the same crop in fit and prediction; "auto"
        centres training crops on the mask but prediction crops on the body.
    num_workers : int, default=0
        Path input only: DataLoader worker processes reading the files.
    memory_format : {"auto", "channels_last", "contiguous"}, default="auto"
        Layout of the network's activations; "auto" is channels_last_3d on the
        CPU and CUDA (faster there, see the Scaling page of the docs).

    Attributes
    ----------
    module_ : MultiTaskWNet
        The trained network (on the CPU after fit returns... see ``device_``).
    classes_ : ndarray of shape (2,)
        Outcome labels; ``classes_[1]`` is the positive class.
    pathology_classes_ : ndarray or None
        Pathology labels when T3 is enabled.
    history_ : list of dict
        Per-epoch train/validation loss of each task and validation metrics.
    best_epoch_ : int
        Epoch whose weights were kept.
    task_weights_ : dict
        The loss weights used.
    volume_shape_ : tuple of int
        Spatial shape seen in fit.
    n_features_in_ : int
        Voxels per volume.
    device_ : torch.device
        Device used for training and prediction.
    intensity_shift_, intensity_scale_ : float
        Input scaling learnt in fit.
    """

    def __init__(self, lam=0.3, task_weights=None,
                 tasks=("reconstruction", "segmentation", "pathology"),
                 outcome_features="both", base_width=16, depth=4, norm="batch", dropout=0.5,
                 learning_rate=1e-3, weight_decay=1e-4, batch_size=4, max_epochs=100,
                 early_stopping=True, validation_fraction=0.2, n_iter_no_change=20,
                 augment=True, intensity_scale="auto", dice_smooth=1.0, seg_bce_weight=0.5,
                 volume_shape=None, device="auto", amp="auto", verbose=0, random_state=None,
                 checkpoint_path=None, checkpoint_every=1, warm_start=False, resume=None,
                 spacing=2.0, input_shape=(64, 64, 64), crop_center="body", num_workers=0,
                 memory_format="auto"):
        self.lam = lam
        self.task_weights = task_weights
        self.tasks = tasks
        self.outcome_features = outcome_features
        self.base_width = base_width
        self.depth = depth
        self.norm = norm
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.augment = augment
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
        self.num_workers = num_workers
        self.memory_format = memory_format

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, *, masks=None, pathology=None):
        """Train the network on PET volumes and their (partial) labels.

        Parameters
        ----------
        X : array-like of shape (n, D, H, W) or (n, 1, D, H, W)
            PET volumes, e.g. in SUV. 2-D (n, n_voxels) is read as flattened
            volumes of ``volume_shape``. Or a sequence of NIfTI file paths, read
            lazily (see ``spacing``, ``input_shape``, ``num_workers``).
        y : array-like of shape (n,)
            Binary outcome with any two labels; -1 (or None/NaN) marks an
            unknown outcome, as in sklearn's semi-supervised estimators.
        masks : array-like of shape (n, D, H, W) or sequence, optional
            Binary tumour masks; a sequence may hold None for unannotated
            samples. Required when the segmentation task is enabled.
        pathology : array-like of shape (n,), optional
            Pathology labels (two or more classes); None, NaN, "" or -1 for
            unknown. Required when the pathology task is enabled.

        Returns
        -------
        self : MultiTaskPETEstimator
        """
        params = self.get_params(deep=False)
        validate_params(params)
        tasks = tuple(self.tasks)
        X = _paths.check_input(X, self)
        n, spatial = len(X), X.shape[1:]
        self.classes_, outcome = check_labels(y, n, "y", binary=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y must contain two known outcome classes to train on; got "
                             f"{len(self.classes_)} class ({self.classes_.tolist()}) among "
                             f"the labelled samples (n_samples={n})")
        mask_array = mask_known = None
        if "segmentation" in tasks:
            if masks is None:
                raise ValueError("masks=None but the 'segmentation' task is enabled; pass "
                                 "masks (None entries for unannotated samples) or remove "
                                 "'segmentation' from tasks")
            mask_array, mask_known = _paths.check_masks(X, masks, n, spatial)
        pathology_codes = None
        self.pathology_classes_ = None
        if "pathology" in tasks:
            if pathology is None:
                raise ValueError("pathology=None but the 'pathology' task is enabled; pass "
                                 "pathology labels (None/-1 for unknown) or remove "
                                 "'pathology' from tasks")
            self.pathology_classes_, pathology_codes = check_labels(
                pathology, n, "pathology", binary=False)
            if len(self.pathology_classes_) < 2:
                raise ValueError("pathology must contain at least two known classes; got "
                                 f"{self.pathology_classes_.tolist()}")

        self.volume_shape_ = tuple(int(s) for s in spatial)
        self.n_features_in_ = int(np.prod(spatial))
        self.device_ = _runtime.resolve_device(self.device)
        memory_format = _runtime.resolve_memory_format(self.memory_format, self.device_)
        _runtime.configure_device(self.device_)
        self.task_weights_ = self._resolve_weights(tasks)
        self.intensity_shift_, self.intensity_scale_ = _paths.scaling_parameters(
            X, self.intensity_scale)

        start = _checkpoint.starting_point(self, n, spatial)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        train_idx, valid_idx = start.split() if start else self._split(outcome, rng)
        # No held-out split (early_stopping=False or too few samples): no validation set,
        # rather than VolumeDataset's default of every sample.
        datasets = [None if idx is None else
                    VolumeDataset(X, idx, mask_array, mask_known, pathology_codes, outcome)
                    for idx in (train_idx, valid_idx)]
        devices = [self.device_] if self.device_.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            self.module_ = self._build_module(tasks).to(self.device_,
                                                        memory_format=memory_format)
            generator = torch.Generator().manual_seed(seed)
            loaders = _inference.make_loaders(datasets, self.batch_size, generator,
                                              pin_memory=self.device_.type == "cuda")
            optimizer = torch.optim.AdamW(self.module_.parameters(), lr=self.learning_rate,
                                          weight_decay=self.weight_decay)
            setup = TrainingSetup(
                weights=self.task_weights_, max_epochs=self.max_epochs,
                n_iter_no_change=self.n_iter_no_change, device=self.device_,
                autocast_dtype=autocast_dtype(self.amp, self.device_),
                intensity_shift=self.intensity_shift_, intensity_scale=self.intensity_scale_,
                augment=self.augment, dice_smooth=self.dice_smooth,
                seg_bce_weight=self.seg_bce_weight, verbose=self.verbose,
                generator=generator, memory_format=memory_format)
            with _runtime.limited_threads():
                _checkpoint.train(self, optimizer, loaders, setup, start, (train_idx, valid_idx))
        self.module_.eval()
        return self

    def _resolve_weights(self, tasks: tuple[str, ...]) -> dict[str, float]:
        if self.task_weights is None:
            return task_weights(self.lam, tasks)
        enabled = (*tasks, "outcome")
        return {t: float(self.task_weights.get(t, 0.0)) if t in enabled else 0.0 for t in TASKS}

    def _split(self, outcome: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray | None]:
        indices = np.arange(len(outcome))
        n_valid = int(np.floor(self.validation_fraction * len(outcome)))
        if not self.early_stopping or n_valid < 1 or len(outcome) - n_valid < 1:
            return indices, None
        try:
            train, valid = train_test_split(indices, test_size=n_valid, stratify=outcome,
                                            random_state=rng)
        except ValueError:  # a stratum too small to split
            train, valid = train_test_split(indices, test_size=n_valid, random_state=rng)
        return np.sort(train), np.sort(valid)

    def _build_module(self, tasks: tuple[str, ...]) -> MultiTaskWNet:
        n_pathology = 0
        if "pathology" in tasks:
            k = len(self.pathology_classes_)
            n_pathology = 1 if k == 2 else k
        return MultiTaskWNet(
            self.base_width, self.depth, reconstruction="reconstruction" in tasks,
            segmentation="segmentation" in tasks, n_pathology_outputs=n_pathology,
            outcome_features=self.outcome_features, norm=self.norm, dropout=self.dropout)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "module_")

    # -------------------------------------------------------------- predict
    def _run(self, X, output: str):
        check_is_fitted(self)
        volumes = _paths.check_input(X, self)
        # The network is fully convolutional, so volumes of another shape are fine;
        # flattened 2-D input, however, must match the layout seen in fit.
        flat = self.volume_shape is None and volumes.shape[1:3] == (1, 1)
        if flat and volumes.shape[1:] != self.volume_shape_:
            raise ValueError(
                f"X has {int(np.prod(volumes.shape[1:]))} features, but "
                f"MultiTaskPETEstimator is expecting {self.n_features_in_} features as input")
        with _checkpoint.memory_guard(self, "prediction", volumes.shape[1:]):
            return _inference.predict_outputs(self, volumes, output)

    def decision_function(self, X) -> np.ndarray:
        """Outcome logit of each volume, shape (n,); positive favours ``classes_[1]``."""
        return self._run(X, "outcome")

    def predict_proba(self, X) -> np.ndarray:
        """Outcome probabilities, shape (n, 2), columns ordered as ``classes_``."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X).astype(np.float64)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """Predicted outcome label of each volume, among ``classes_``."""
        decision = self.decision_function(X)
        return self.classes_[(decision > 0).astype(int)]

    def segment_proba(self, X) -> np.ndarray:
        """Tumour probability maps, float32 of shape (n, D, H, W) like X; for file
        paths a list of maps on each file's original grid (sliding windows)."""
        self._require("segmentation")
        maps = _paths.segment_paths(self, X)
        return self._run(X, "segmentation") if maps is None else maps

    def segment(self, X, threshold: float = 0.5, *, output_dir=None):
        """Binary tumour masks (uint8) of X's spatial shape, ``proba >= threshold``.

        For file paths: a list of masks on each file's original grid, or with
        ``output_dir`` the written ``<name>_seg.nii.gz`` paths (see
        :func:`petmtl._paths.segment_paths`).
        """
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        self._require("segmentation")
        masks = _paths.segment_paths(self, X, threshold=threshold, output_dir=output_dir)
        return (self.segment_proba(X) >= threshold).astype(np.uint8) if masks is None else masks

    def predict_pathology_proba(self, X) -> np.ndarray:
        """Pathology class probabilities, shape (n, n_classes) ordered as
        ``pathology_classes_``."""
        self._require("pathology")
        logits = self._run(X, "pathology").astype(np.float64)
        if logits.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.column_stack([1.0 - p, p])
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def predict_pathology(self, X) -> np.ndarray:
        """Predicted pathology label of each volume, among ``pathology_classes_``."""
        proba = self.predict_pathology_proba(X)
        return self.pathology_classes_[proba.argmax(axis=1)]

    def reconstruct(self, X) -> np.ndarray:
        """T1 reconstruction in the input's intensity units, shape (n, D, H, W)."""
        self._require("reconstruction")
        recon = self._run(X, "reconstruction")
        return recon * self.intensity_scale_ + self.intensity_shift_

    def transform(self, X) -> np.ndarray:
        """The multi-scale feature vector that T4 reads, shape (n, n_features).

        The features have X's floating dtype (float32 unless X is float64).
        """
        dtype = X.dtype if getattr(X, "dtype", None) == np.float64 else np.float32
        return self._run(X, "features").astype(dtype, copy=False)

    def _require(self, task: str) -> None:
        check_is_fitted(self)
        if task not in self.tasks:
            raise AttributeError(
                f"the {task!r} task was disabled (tasks={tuple(self.tasks)!r}); refit with "
                f"{task!r} in tasks to use this method")

    def save(self, path) -> str:
        """Write a safe model file (tensors + JSON); see :func:`petmtl.serialization.save`."""
        from .serialization import save
        return save(self, path)

    @classmethod
    def load(cls, path, *, device=None) -> MultiTaskPETEstimator:
        """Read a model file written by :meth:`save`; see :func:`petmtl.serialization.load`."""
        from .serialization import load
        return load(path, device=device)

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.classifier_tags.multi_class = False  # the outcome is binary, as in the paper
        return tags

