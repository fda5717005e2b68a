"""What the petmtl estimators share: parameters, ``fit``, the auxiliary heads, model files.

``fit`` reads top to bottom: check the parameters, check the data, build the network
and its loaders, train, keep the result. The concrete estimators (the binary
:class:`~petmtl.MultiTaskPETEstimator`) add how their outcome ``y`` is read and
what ``predict`` means.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import serialization, training
from ._input import (
    FitData,
    TaskDataset,
    check_fit_data,
    intensity_scaling,
    take,
    training_loaders,
)
from ._params import flip_axes, validate_params
from ._persistence import PersistenceMixin
from ._prediction import PredictionMixin
from ._runtime import (
    configure_device,
    limited_threads,
    resolve_device,
    resolve_memory_format,
)
from .exceptions import DeviceOutOfMemoryError, TrainingDivergedError
from .losses import TASKS, task_weights
from .network import MultiTaskWNet

FITTED = ("module_", "history_", "best_epoch_", "_warm_start_state", "outcome_refit_")


def extend_parameters(init):
    """Give ``__init__(self, lam=..., *, own=..., **shared)`` its full signature.

    scikit-learn reads an estimator's parameters from the signature of its ``__init__``
    (``get_params``, ``clone``, ``repr``). An estimator adds its own keyword parameters
    to the shared ones of :class:`MultiTaskPETBase` with this decorator instead of
    repeating them all.
    """
    own = inspect.signature(init).parameters
    shared = inspect.signature(MultiTaskPETBase.__init__).parameters
    params = [p for p in own.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params += [p for name, p in shared.items() if name not in own]
    init.__signature__ = inspect.Signature(params)
    return init


class MultiTaskPETBase(PersistenceMixin, PredictionMixin, TransformerMixin, BaseEstimator):
    """Shared machinery of the petmtl estimators; see :class:`~petmtl.MultiTaskPETEstimator`."""

    _extra_constraints: dict = {}  # an estimator's own parameters (see _params.py)
    _monitors: dict = {"outcome": ("valid_outcome", 1.0), "loss": ("valid_loss", 1.0)}

    def __init__(self, lam=0.3, *, task_weights=None,
                 tasks=("reconstruction", "segmentation", "pathology"),
                 outcome_features="both", base_width=16, depth=4, norm="batch", dropout=0.5,
                 segmentation_prior=0.01, outcome_descriptors=True, global_pooling="avg",
                 peritumoral_mm=0.0, pathology_grid=2, refit_outcome=True, learning_rate=1e-3,
                 weight_decay=1e-4, batch_size=4, max_epochs=100, early_stopping=True,
                 early_stopping_score="loss", validation_fraction=0.2,
                 validation_stratify="outcome", n_iter_no_change=20, augment=True,
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
        self.pathology_grid = pathology_grid
        self.refit_outcome = refit_outcome
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.early_stopping_score = early_stopping_score
        self.validation_fraction = validation_fraction
        self.validation_stratify = validation_stratify
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
        self.interpolation = interpolation
        self.num_workers = num_workers
        self.cache_dir = cache_dir
        self.memory_format = memory_format
        self.distributed = distributed

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
            The outcome; unknown entries are left out of the outcome loss (see the
            estimator's class documentation for its form).
        masks : array-like of shape (n, D, H, W) or sequence, optional
            Binary tumour masks; a sequence may hold None for unannotated
            samples. Required when the segmentation task is enabled.
        pathology : array-like of shape (n,), optional
            Pathology labels (two or more classes); None, NaN, "" or -1 for
            unknown. Required when the pathology task is enabled.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        validate_params(self.get_params(deep=False), self._extra_constraints)
        data = self._check_fit_data(X, y, masks, pathology)
        start = self._continuation()
        self._set_data_attributes(data, start)
        group = self._join_processes()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        split = start.run.split if start is not None else training.validation_split(
            data.strata, fraction=self.validation_fraction, stratify=self.validation_stratify,
            enabled=self.early_stopping, random_state=rng)
        devices = [self.device_] if self.device_.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), limited_threads():
            torch.manual_seed(seed)
            forward, optimizer, loaders, setup = self._build(data, split, seed, group)
            result = self._train(forward, optimizer, loaders, setup, split, start)
            self._keep(forward.module, result)
            if self.refit_outcome:
                self._refit_outcome(data, seed, group)
        return self

    def _join_processes(self) -> training.ProcessGroup:
        """The processes of a data-parallel fit; each uses the GPU of its local rank."""
        group = training.process_group(self.distributed, self.device_)
        if group.world_size > 1 and self.device_.type == "cuda":
            self.device_ = torch.device("cuda", group.local_rank)
            torch.cuda.set_device(self.device_)
        return group

    def _refit_outcome(self, data: FitData, seed: int, group: training.ProcessGroup) -> None:
        """Refit T4 as a penalised linear model of the frozen features (the last stage).

        Each process computes the features of its share of the samples; the refit, on all
        of them, is the same in every process.
        """
        values, labelled = data.targets["outcome"]
        index = np.flatnonzero(labelled)
        shard = group.shard(np.arange(len(data.volumes)))
        features = self._forward().predict(take(data.volumes, shard), ("features",),
                                           batch_size=2 * self.batch_size)["features"]
        features = group.gather(torch.from_numpy(features).to(self.device_)).cpu().numpy()
        targets = {name: torch.as_tensor(np.asarray(v)[index])
                   for name, (v, _) in data.targets.items()}
        targets["outcome_known"] = torch.ones(len(index), dtype=torch.bool)
        task = self._outcome_task(data, index)
        refit = training.refit_linear(
            features[index], targets, task.whole_set_loss, n_outputs=self._n_outcome_outputs(),
            strata=data.strata["outcome"][index], random_state=seed % (2**31))
        self.module_.outcome.set_linear(refit.weight.to(self.device_),
                                        refit.bias.to(self.device_))
        self.outcome_refit_ = {"penalty": refit.penalty, "cv_losses": refit.cv_losses,
                               "n_samples": int(len(index))}
        if self.checkpoint_path is not None and group.is_main:  # the file holds it too
            record = serialization.read_record(self.checkpoint_path)
            record.state_dict = training.cpu_copy(self.module_.state_dict())
            record.attributes.update(outcome_refit_=self.outcome_refit_)
            serialization.write_record(self.checkpoint_path, record)

    def _check_fit_data(self, X, y, masks, pathology) -> FitData:
        volumes = self._as_volumes(X)
        return check_fit_data(volumes, self._check_outcome(y, len(volumes)), masks=masks,
                              pathology=pathology, tasks=tuple(self.tasks))

    def _check_outcome(self, y, n_samples: int) -> tuple[dict, dict, dict]:
        """Read ``y``: (fitted attributes, loss targets, validation strata)."""
        raise NotImplementedError

    def _set_data_attributes(self, data: FitData, start) -> None:
        for name, value in data.attributes.items():
            setattr(self, name, value)
        spatial = data.volumes.shape[1:]
        self.volume_shape_ = tuple(int(s) for s in spatial)
        self.n_features_in_ = int(np.prod(spatial))
        self.device_ = resolve_device(self.device)
        self.task_weights_ = self._resolve_weights()
        if start is None:
            scaling = intensity_scaling(data.volumes, self.intensity_scale)
        else:
            start.check(params=self.get_params(deep=False), attributes=vars(self),
                        n_samples=len(data.volumes))
            saved = start.record.attributes
            scaling = saved["intensity_shift_"], saved["intensity_scale_"]
        self.intensity_shift_, self.intensity_scale_ = scaling

    def _resolve_weights(self) -> dict[str, float]:
        tasks = tuple(self.tasks)
        if self.task_weights is None:
            return task_weights(self.lam, tasks)
        enabled = (*tasks, "outcome")
        return {t: float(self.task_weights.get(t, 0.0)) if t in enabled else 0.0 for t in TASKS}

    def _continuation(self) -> training.Continuation | None:
        if self.resume is not None:
            return training.read_run(self.resume)
        warm = getattr(self, "_warm_start_state", None)
        if not self.warm_start or warm is None or not hasattr(self, "module_"):
            return None
        # the network holds the run's final weights: the best ones when it validated
        weights = training.cpu_copy(self.module_.state_dict())
        if "outcome.refitted" in weights:  # training continues with T4's dense layers
            weights["outcome.refitted"].fill_(False)
        run = dataclasses.replace(warm.run, last_model=weights,
                                  best_model=weights if warm.run.best_epoch else None)
        return dataclasses.replace(warm, run=run)

    def _build(self, data: FitData, split, seed: int, group: training.ProcessGroup):
        """The network (as a :class:`Forward`), optimizer, loaders and loop settings.

        In a data-parallel fit the network is wrapped in ``DistributedDataParallel``
        (after converting batch norm to ``SyncBatchNorm`` on GPUs; PyTorch synchronises
        batch statistics on GPUs only, so on CPUs each process normalises its own share).
        """
        configure_device(self.device_)
        memory_format = resolve_memory_format(self.memory_format, self.device_)
        module = self._build_module()
        if group.world_size > 1 and self.device_.type == "cuda":
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        module = module.to(self.device_, memory_format=memory_format)
        if group.world_size > 1:
            module = DistributedDataParallel(
                module, device_ids=[self.device_.index] if self.device_.type == "cuda" else None)
        forward = self._forward(module)
        generator = torch.Generator().manual_seed(seed)
        train_set, valid_set = [
            None if idx is None else TaskDataset(data.volumes, idx, masks=data.masks,
                                                 mask_known=data.mask_known,
                                                 targets=data.targets)
            for idx in split]
        loaders = training_loaders(train_set, valid_set, batch_size=self.batch_size, seed=seed,
                                   rank=group.rank, world_size=group.world_size,
                                   pin_memory=self.device_.type == "cuda")
        optimizer = torch.optim.AdamW(module.parameters(), lr=self.learning_rate,
                                      weight_decay=self.weight_decay)
        monitor, sign = self._monitors[self.early_stopping_score]
        setup = training.TrainingSetup(
            weights=self.task_weights_, max_epochs=self.max_epochs,
            n_iter_no_change=self.n_iter_no_change, augment=flip_axes(self.augment),
            dice_smooth=self.dice_smooth, seg_bce_weight=self.seg_bce_weight,
            verbose=self.verbose, generator=generator, volume_shape=self.volume_shape_,
            memory_settings=self._memory_settings(), monitor=monitor, monitor_sign=sign,
            outcome=self._outcome_task(data, split[0]), group=group)
        return forward, optimizer, loaders, setup

    def _outcome_task(self, data: FitData, train_idx):
        """The outcome's loss and validation scores (:mod:`petmtl._outcomes`)."""
        raise NotImplementedError

    def _n_outcome_outputs(self) -> int:
        return 1

    def _build_module(self) -> MultiTaskWNet:
        tasks = tuple(self.tasks)
        n_pathology = 0
        if "pathology" in tasks:
            k = len(self.pathology_classes_)
            n_pathology = 1 if k == 2 else k
        return MultiTaskWNet(
            self.base_width, self.depth, reconstruction="reconstruction" in tasks,
            segmentation="segmentation" in tasks, n_pathology_outputs=n_pathology,
            outcome_features=self.outcome_features, norm=self.norm, dropout=self.dropout,
            segmentation_prior=self.segmentation_prior, descriptors=self.outcome_descriptors,
            voxel_size=np.broadcast_to(np.asarray(self.spacing, dtype=float), (3,)),
            input_shift=self.intensity_shift_, input_scale=self.intensity_scale_,
            pathology_grid=self.pathology_grid, n_outcome_outputs=self._n_outcome_outputs(),
            refit_outcome=self.refit_outcome, global_pooling=self.global_pooling,
            peritumoral_mm=self.peritumoral_mm)

    def _memory_settings(self) -> str:
        return (f"batch_size={self.batch_size}, base_width={self.base_width}, "
                f"depth={self.depth}")

    def _train(self, forward, optimizer, loaders, setup, split, start):
        checkpoint = None
        if self.checkpoint_path is not None and setup.group.is_main:
            checkpoint = training.CheckpointPlan(self.checkpoint_path, self.checkpoint_every,
                                                 self._record(weights=False))
        try:
            return training.train(forward, optimizer, loaders, setup, split=split,
                                  start=None if start is None else start.run,
                                  checkpoint=checkpoint, keep_run=self.warm_start)
        except (TrainingDivergedError, DeviceOutOfMemoryError) as exc:
            self._keep(forward.module, getattr(exc, "result", None))
            raise

    def _record(self, *, weights: bool = True) -> serialization.ModelRecord:
        with warnings.catch_warnings():  # e.g. a RandomState random_state stored as None
            warnings.simplefilter("ignore", UserWarning)
            record = serialization.record_of(self, weights=weights)
        for name in ("checkpoint_path", "resume"):  # the model format stores paths as str
            if record.params[name] is not None:
                record.params[name] = os.fspath(record.params[name])
        return record

    def _keep(self, module, result: training.TrainingResult | None) -> None:
        """Keep a training result as the fitted state (None: leave the estimator unfitted)."""
        if result is None:
            for name in FITTED:
                self.__dict__.pop(name, None)
            return
        self.module_ = training.unwrap(module).eval()
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self._warm_start_state = None
        if result.run is not None:  # its weights are the network's: not kept twice
            run = dataclasses.replace(result.run, last_model=None, best_model=None)
            self._warm_start_state = training.Continuation(
                self._record(weights=False), run, "warm_start=True")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "module_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags
