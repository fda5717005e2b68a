"""The scikit-learn face of petmtl: :class:`MultiTaskPETEstimator`, the binary outcome."""

from __future__ import annotations

import functools

import numpy as np
from sklearn.base import ClassifierMixin

from . import serialization
from ._base import MultiTaskPETBase, extend_parameters
from ._base.params import CLASS_WEIGHT
from ._constraints import Options
from ._input import OutcomeData
from ._labels import check_labels
from .losses import BinaryOutcome

PAPER_PARAMS = {
    "base_width": 64, "depth": 5, "norm": None, "segmentation_prior": None,
    "outcome_descriptors": False, "refit_outcome": False, "class_weight": None,
    "early_stopping_score": "loss", "pathology_grid": 4,
    "learning_rate": 1e-4, "weight_decay": 0.0, "batch_size": 4, "seg_bce_weight": 0.0,
    "augment": False, "intensity_scale": None, "max_epochs": 1500, "n_iter_no_change": 70,
    "dropout": 0.5, "lam": 0.3, "validation_stratify": "pathology", "spacing": 2.0,
    "interpolation": "nearest",
}
"""The paper's configuration: ``MultiTaskPETEstimator(**PAPER_PARAMS)``.

Base width 64 and depth 5 (64 to 1024 feature maps), no normalisation, PyTorch's default
initialisation of the segmentation output, T3 flattening a 4 x 4 x 4 map (the paper's
flatten for 128^3 input), T4 on deep features only (no PET descriptors), unweighted
classes, early stopping on the total loss, Adam (no weight decay) at 1e-4 with a batch of
4, the plain Dice loss, no augmentation, raw SUV input, 1500 epochs with a patience of 70,
dropout 0.5, lambda 0.3, a validation split stratified by pathology (the paper's 20 lung +
20 oesophageal patients of 155 are ``validation_fraction=40 / 155``) and, for NIfTI input,
nearest-neighbour resampling to 2 mm. What remains different from the paper is
listed in the user guide ("Defaults and the paper").
"""


@serialization.register_model_class
class MultiTaskPETEstimator(ClassifierMixin, MultiTaskPETBase):
    """Multi-task, multi-scale W-Net for outcome prediction in 3D PET (Amyar et al.).

    One shared 3D U-Net encoder feeds two decoders, T1 image reconstruction and
    T2 tumour segmentation (the W), a T3 pathology classifier on the bottleneck
    and the T4 outcome predictor, which combines tumour features (a CNN on the
    PET gated by the predicted tumour) with pooled features of three scales. The
    loss is ``alpha*Lrecon + beta*Lseg + omega*Lclass + lam*Lpredict``. The
    outcome ``y`` is binary, with any two labels; -1 (or None/NaN) marks an
    unknown outcome, as in scikit-learn's semi-supervised estimators.

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
    segmentation_prior : float in (0, 1) or None, default=0.01
        Initial tumour probability of the segmentation output (its last bias starts
        at ``logit(segmentation_prior)``); None keeps PyTorch's default
        initialisation, as in the paper. See :class:`petmtl.network.MultiTaskWNet`.
    outcome_descriptors : bool, default=True
        Give T4 quantitative PET descriptors of the predicted tumour (MTV, SUVmax,
        SUVmean, SUVpeak, TLG, heterogeneity, extent, location), of its 1 cm ring and of
        the whole image (SUV percentiles, hot volumes), standardised, beside the deep
        features, with a linear path from them to the logit; T3 also gets the tumour's
        location and extent. Beyond the paper; False is the paper's T4.
        See :class:`petmtl.network.descriptors.PETDescriptors`.
    global_pooling : {"avg", "avg_max"}, default="avg"
        How T4 pools its three scales: global average pooling (the paper), or average and
        maximum side by side, so that small hot spots reach T4 undiluted.
    peritumoral_mm : float, default=0.0
        With T2, T4's tumour branch also reads the PET in a ring of this width (mm)
        around the predicted tumour; 0 is the paper's tumour-only input.
    lesion_burden : {"suv2.5", "suv4.0", "suvmax41"}, float or None, default=None
        Add to T4's PET descriptors the whole-body lesion burden of the lesions this
        threshold rule finds (:func:`petmtl.pet.detect_lesions`), with the predicted
        tumour as the primary: number, TMTV, TLG, dissemination, the hottest and the
        nearest non-primary lesion (:class:`petmtl.network.descriptors.PETDescriptors`).
        Needs ``outcome_descriptors``.
    refit_outcome : bool, default=True
        After the multi-task training, refit T4 as a linear model of its input features
        (the deep multi-scale features and the PET descriptors) on the frozen network:
        the outcome loss over all training samples at once with an L2 penalty chosen by
        5-fold cross-validation among them (:mod:`petmtl.training.refit`). On small
        cohorts this is more reliable than the dense layers trained by mini-batches, and
        it selects the outcome model on the outcome alone. False keeps the trained dense
        T4 (the paper). The choice, and the cross-validated score of the refitted model
        (``cv_scores``: AUC and accuracy of its out-of-fold outputs), are in
        ``outcome_refit_``; ``verbose`` prints them when the fit ends.
    image_column : str, default="image"
        When X is a pandas DataFrame: the column holding the PET volumes (arrays) or their
        paths; every other column is a clinical covariate of T4 (see the "Clinical data"
        page of the docs).
    clinical_fusion : {"late", "film"}, default="late"
        How T4 joins the covariates to the image: beside the image features and the
        descriptors (``"late"``, also in the linear refit), or also scaling and shifting
        the image features by them (``"film"``, FiLM/DAFT). See
        :class:`petmtl.network.OutcomeHead`.
    clinical_categorical : tuple of str or None, default=None
        The covariates to one-hot encode; None: those of a non-numeric dtype.
    pathology_grid : int, default=2
        T3 flattens a ``pathology_grid`` cube of pooled bottleneck features, so it sees
        where the tumour is (the paper flattens the whole map; 1 is global average
        pooling, which loses the position).
    class_weight : "balanced", dict or None, default="balanced"
        Weigh the outcome loss so that both classes count equally: "balanced" weighs class
        ``c`` by ``n / (2 * n_c)`` over the labelled training samples (scikit-learn's
        rule, so the weights average 1 over them); a dict gives ``{label: weight}``;
        None weighs every sample the same (the paper).
    learning_rate : float, default=1e-3
        Initial learning rate of the AdamW optimizer (paper: 1e-4 with Adam).
    weight_decay : float, default=1e-4
        Decoupled weight decay of AdamW; 0 gives the paper's plain Adam.
    lr_schedule : {"cosine", "plateau"} or None, default=None
        Change the learning rate after every epoch: cosine annealing to 0 over
        ``max_epochs``, or a tenfold decrease when the early-stopping score has not
        improved for 5 epochs ("plateau"; the training loss without validation). None
        keeps it constant (the paper). See :class:`petmtl.training.LRSchedule`.
    grad_clip : float or None, default=None
        Clip the global L2 norm of the gradients to this value before every optimizer
        step (:class:`petmtl.training.GradientClipping`); None does not clip.
    weight_averaging : {"ema"} or None, default=None
        Keep an exponential moving average of the weights along the run (decay 0.99 per
        step, with ``torch.optim.swa_utils``), and validate, keep and predict with it
        (:class:`petmtl.training.WeightAveraging`); no extra fit.
    n_members : int, default=1
        An ensemble of ``n_members`` networks: the samples are cut into as many folds
        (stratified by the outcome); member ``k`` trains on the others and validates and
        stops early on fold ``k``; predictions average the members' probabilities. Each
        member predicts its held-out fold (``oof_proba_``, for conformal calibration).
        Not with ``checkpoint_path``, ``resume`` or ``warm_start``.
    batch_size : int, default=4
        Training mini-batch (paper: 4); prediction uses twice this.
    max_epochs : int, default=100
        Upper bound on epochs (paper: 1500).
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the samples (stratified by outcome)
        and stop when ``early_stopping_score`` has not improved for
        ``n_iter_no_change`` epochs, restoring the weights of its best epoch.
    early_stopping_score : {"loss", "outcome", "auc"}, default="loss"
        What early stopping and best-weight restoring watch on the held-out samples:
        the weighted total loss of all tasks (the paper), the outcome loss alone, or
        the outcome AUC. On 24 held-out patients the outcome alone is noisy and stops
        the auxiliary tasks early (measured on one fold of the synthetic cohort: Dice
        0.77 and pathology accuracy 0.54 against 0.89 and 1.00 with the total loss);
        with ``refit_outcome`` the final outcome model is chosen on the outcome anyway.
    validation_fraction : float in (0, 1), default=0.2
        Fraction of the samples held out for early stopping (rounded down).
    validation_stratify : {"outcome", "pathology", "joint"}, default="outcome"
        What the held-out split preserves the proportions of: the outcome, the
        pathology (the paper's 20 lung + 20 oesophageal validation patients) or
        every outcome-pathology combination. "pathology" and "joint" need the
        pathology task.
    n_iter_no_change : int, default=20
        Early-stopping patience (paper: 70).
    augment : bool or tuple of int, default=True
        Random flips while training, each with probability 1/2 per sample. True flips the
        left-right axis (axis 0 of RAS+ volumes, as NIfTI input and
        :func:`~petmtl.datasets.make_pet_cohort` give them): a mirror image is still a
        plausible patient, while flipping head and feet or front and back is not, and
        makes a pathology defined by location (lung vs oesophagus, upper vs lower)
        unlearnable. A tuple names the axes to flip, e.g. ``(0, 1, 2)`` (all three,
        petmtl 0.1's ``True``); False flips nothing.
    tta : bool or tuple of int, default=False
        Test-time flips: predictions average the input and its mirror along these axes
        (True: the left-right axis 0, as ``augment``), for every head; per-voxel outputs
        are mirrored back. See ``predict_proba(return_std=True)`` for the spread.
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
        Write the checkpoint after every ``checkpoint_every``-th epoch (and after the
        last one).
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
    interpolation : {"linear", "nearest"}, default="linear"
        Path input only: how PET files are resampled to ``spacing``; "nearest" is
        the paper's nearest-neighbour resampling to 2 mm. Masks always use nearest
        neighbour.
    num_workers : int, default=0
        Path input only: DataLoader worker processes reading the files.
    cache_dir : str, path-like or None, default=None
        Path input only: a folder where the prepared (reoriented, resampled, cropped)
        windows of the files are kept as memory-mappable ``.npy`` files
        (:class:`petmtl.io.PreprocessedCache`), keyed by each file's size and
        modification time and by every setting that changes them. Each file is then
        resampled once instead of every epoch, by any number of DataLoader workers or
        training processes sharing the folder; a changed file is read again. None reads
        the files every time.
    distributed : {"auto", True, False}, default="auto"
        Data-parallel training over processes: "auto" trains data-parallel inside a
        ``torchrun`` launch of several processes (or an initialised process group),
        True requires one, False never does. ``batch_size`` stays the global batch,
        shared by the processes; every process ends with the same fitted estimator.
        See the "Multi-GPU and multi-node training" page of the docs.
    memory_format : {"auto", "channels_last", "contiguous"}, default="auto"
        Layout of the network's activations; "auto" is channels_last_3d on the
        CPU and CUDA (faster there, see the Scaling page of the docs).

    Attributes
    ----------
    module_ : MultiTaskWNet
        The trained network, in evaluation mode, on ``device_``.
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
    outcome_refit_ : dict
        With ``refit_outcome``: the chosen ``penalty``, the cross-validated outcome loss
        of each candidate (``cv_losses``), the cross-validated scores of the chosen one
        (``cv_scores``) and ``n_samples`` (per member under ``members`` for an ensemble).
    members_ : list of MultiTaskWNet
        The networks whose predictions are combined (``module_`` first; one without an
        ensemble).
    member_histories_, member_best_epochs_ : list
        Ensembles only: each member's ``history_`` and ``best_epoch_``.
    oof_proba_ : ndarray of shape (n_labelled, 2)
        Ensembles only: each labelled training sample's probabilities from the member
        that held it out; ``oof_index_`` gives the samples (rows of X).
    clinical_preprocessor_ : ColumnTransformer or None
        The covariates' preprocessing learnt in fit (None without covariates);
        ``n_clinical_features_`` its output width.

    See Also
    --------
    PAPER_PARAMS : The paper's exact configuration.

    Examples
    --------
    >>> from petmtl import MultiTaskPETEstimator
    >>> from petmtl.datasets import make_pet_cohort
    >>> cohort = make_pet_cohort(16, shape=(16, 16, 16), spacing=8.0, random_state=0)
    >>> est = MultiTaskPETEstimator(base_width=2, depth=2, max_epochs=1, random_state=0)
    >>> est.fit(cohort.X, cohort.y, masks=cohort.masks, pathology=cohort.pathology)
    MultiTaskPETEstimator(base_width=2, depth=2, max_epochs=1, random_state=0)
    >>> est.predict_proba(cohort.X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {**MultiTaskPETBase._parameter_constraints,
                              "class_weight": CLASS_WEIGHT,
                              "early_stopping_score": [Options("loss", "outcome", "auc")]}
    _outcome_file_outputs = ("proba", "label", "decision")
    _default_file_outputs = ("proba", "label")

    @extend_parameters
    def __init__(self, lam=0.3, *, class_weight="balanced", **shared):
        super().__init__(lam, **shared)
        self.class_weight = class_weight

    def _read_outcome(self, y, n_samples: int) -> OutcomeData:
        classes, codes = check_labels(y, n_samples, "y", binary=True)
        if len(classes) < 2:
            raise ValueError(f"y must contain two known outcome classes to train on; got "
                             f"{len(classes)} class ({classes.tolist()}) among the labelled "
                             f"samples (n_samples={n_samples})")
        if isinstance(self.class_weight, dict):
            unknown = [k for k in self.class_weight if k not in classes.tolist()]
            if unknown:
                raise ValueError(f"class_weight has labels {unknown} that are not classes of "
                                 f"y {classes.tolist()}; give weights of y's classes")
        return OutcomeData(
            targets={"outcome": (np.maximum(codes, 0), codes >= 0)}, strata=codes,
            make_task=functools.partial(binary_outcome, self.class_weight, classes, codes),
            attributes={"classes_": classes, "n_outcome_outputs_": 1})

    def _outcome_values(self, raw: np.ndarray, name: str, times=None) -> np.ndarray:
        if times is not None:
            raise ValueError("times is for survival models; this model predicts a binary "
                             "outcome")
        decision = np.asarray(raw, dtype=np.float64).reshape(len(raw))
        if name == "decision":
            return decision
        proba = _sigmoid_columns(decision)
        return proba if name == "proba" else self.classes_[(decision > 0).astype(int)]

    _oof_output = "proba"

    def _combine_outcomes(self, views: np.ndarray) -> np.ndarray:
        """The logit of the mean probability over the views (members, flips)."""
        views = np.asarray(views, dtype=np.float64)
        if len(views) == 1:
            return views[0]
        return _logit(_sigmoid(views).mean(axis=0))

    def decision_function(self, X) -> np.ndarray:
        """Outcome logit of each volume; positive favours ``classes_[1]``.

        Parameters
        ----------
        X : array-like of shape (n, x, y, z), paths, or a table with covariates
            PET volumes as in :meth:`fit`; files are read with the fitted ``spacing``
            and window.

        Returns
        -------
        decision : ndarray of shape (n,)
            ``log(p / (1 - p))`` with ``p`` the probability of ``classes_[1]`` (averaged
            over the members of an ensemble and the test-time flips, ``tta``).
        """
        return self._network_outputs(X, ("outcome",))["outcome"]

    def predict_proba(self, X, return_std: bool = False):
        """Outcome probabilities: the sigmoid of :meth:`decision_function`.

        Parameters
        ----------
        X : array-like, paths, or a table with covariates
            As for :meth:`decision_function`.
        return_std : bool, default=False
            Also return each patient's spread: the standard deviation of the probability
            of ``classes_[1]`` over the views of the prediction, the members of an
            ensemble (``n_members``) and the test-time flips (``tta``); 0 for a single
            network without flips.

        Returns
        -------
        proba : ndarray of shape (n, 2)
            Rows ``[1 - p, p]``, columns ordered as ``classes_``.
        std : ndarray of shape (n,)
            Only with ``return_std``.
        """
        if not return_std:
            return _sigmoid_columns(self.decision_function(X))
        views = self._network_views(X, ("outcome",))["outcome"]
        return (_sigmoid_columns(self._combine_outcomes(views)),
                _sigmoid(np.asarray(views, dtype=np.float64)).std(axis=0))

    def predict(self, X) -> np.ndarray:
        """Predicted outcome label of each volume (X as in :meth:`decision_function`).

        Returns
        -------
        labels : ndarray of shape (n,)
            ``classes_[1]`` where the decision function is positive, else ``classes_[0]``.
        """
        decision = self.decision_function(X)
        return self.classes_[(decision > 0).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # the outcome is binary, as in the paper
        return tags


def _sigmoid(logits) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1.0 - 1e-12)
    return np.log(p / (1.0 - p))


def _sigmoid_columns(logits: np.ndarray) -> np.ndarray:
    p = _sigmoid(logits)
    return np.column_stack([1.0 - p, p])


def binary_outcome(class_weight, classes, codes: np.ndarray, train_index) -> BinaryOutcome:
    """The binary outcome task, its classes weighted as ``class_weight`` says.

    Parameters
    ----------
    class_weight : "balanced", dict or None
        "balanced": ``n / (2 * n_class)`` from the labelled samples of ``train_index``
        (scikit-learn's rule: the weights average 1 over them); a dict: the weights of
        ``classes[0]`` and ``classes[1]`` (1 where missing); None: unweighted.
    classes : ndarray of shape (2,)
    codes : ndarray of int
        Class index of every sample, -1 where unknown.
    train_index : ndarray of int
        The samples the task is trained on.

    Returns
    -------
    BinaryOutcome
    """
    if class_weight is None:
        return BinaryOutcome()
    if isinstance(class_weight, dict):
        return BinaryOutcome([float(class_weight.get(c, 1.0)) for c in classes])
    labels = codes[np.asarray(train_index)]
    labels = labels[labels >= 0]
    counts = np.bincount(labels, minlength=2)
    if counts.min() == 0:
        return BinaryOutcome()
    return BinaryOutcome(len(labels) / (2.0 * counts))
