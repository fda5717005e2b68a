"""``fit`` of the petmtl estimators: five steps, from the parameters to a kept result.

:class:`MultiTaskPETBase` adds ``fit`` to :class:`~petmtl._base.model.PETNetworkModel`
(the shared parameters and the use of a fitted network). ``fit`` reads top to bottom:
check the parameters, check the data, build the network and its loaders, train (a
:class:`~petmtl.training.TrainingLoop` with the callbacks the parameters ask for), keep
the result. A concrete estimator adds its own parameters (its ``__init__`` and
``_parameter_constraints`` entries), reads its ``y`` in
:meth:`~MultiTaskPETBase._read_outcome` (returning an :class:`~petmtl._input.OutcomeData`)
and says what ``predict`` means.

Parameters are declared once. scikit-learn reads an estimator's parameters from the
signature of its ``__init__``; a concrete estimator writes only its own keyword
parameters and ``**shared``, and :func:`extend_parameters` gives that ``__init__`` the full
signature (its own parameters, then the shared ones), so ``get_params``, ``clone`` and
``repr`` see all of them. That is the one mechanism; ``help()`` and IDEs that read
``__signature__`` show the full list.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys

import numpy as np
import torch
from sklearn.utils import check_random_state

from .. import training
from .._forward import forward_of
from .._input import (
    FitData,
    OutcomeData,
    check_fit_data,
    fit_covariates,
    intensity_scaling,
    split_table,
    take,
)
from .._runtime import configure_device, limited_threads, resolve_device, resolve_memory_format
from ..exceptions import DeviceOutOfMemoryError, TrainingDivergedError
from . import fitting, persistence
from .model import PETNetworkModel

# what one fit leaves that the next must not inherit (a refit, ensemble members' results)
OF_ONE_RUN = ("outcome_refit_", "member_histories_", "member_best_epochs_", "oof_index_",
              "oof_proba_", "oof_risk_")
FITTED = ("module_", "members_", "history_", "best_epoch_", "_warm_start_state", *OF_ONE_RUN)


def extend_parameters(init):
    """Give ``__init__(self, lam=..., *, own=..., **shared)`` the full signature.

    The estimator's own parameters come first, then every parameter of
    :meth:`PETNetworkModel.__init__` it does not redefine (see the module docstring).
    """
    own = inspect.signature(init).parameters
    shared = inspect.signature(PETNetworkModel.__init__).parameters
    params = [p for p in own.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params += [p for name, p in shared.items() if name not in own]
    init.__signature__ = inspect.Signature(params)
    return init


class MultiTaskPETBase(PETNetworkModel):
    """``fit`` of the petmtl estimators; see :class:`~petmtl.MultiTaskPETEstimator`."""

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, *, masks=None, pathology=None):
        """Train the network on PET volumes and their (partial) labels.

        Parameters
        ----------
        X : array-like of shape (n, x, y, z) or (n, 1, x, y, z), paths, or a table
            PET volumes (e.g. in SUV) in RAS+ voxel order, axis 0 running from the
            patient's left to right, axis 1 from posterior to anterior, axis 2 from
            inferior to superior (the order of NIfTI input after reorientation). 2-D
            (n, n_voxels) is read as flattened volumes of ``volume_shape``. Or a
            sequence of NIfTI file paths (or DICOM series folders), read lazily (see
            ``spacing``, ``input_shape``, ``num_workers``). Or a pandas DataFrame whose
            ``image_column`` holds the volumes or paths and whose other columns are
            clinical covariates for T4 (see the "Clinical data" page of the docs).
        y : array-like of shape (n,)
            The outcome; unknown entries are left out of the outcome loss (see the
            estimator's class documentation for its form).
        masks : array-like of shape (n, x, y, z) or sequence, optional
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
        self._validate_params()
        device = resolve_device(self.device)
        images, covariates = split_table(X, self.image_column)
        volumes = self._as_volumes(images)
        outcome = self._read_outcome(y, len(volumes))
        preprocessor, clinical = fit_covariates(covariates, self.clinical_categorical)
        data = check_fit_data(volumes, outcome, masks=masks, pathology=pathology,
                              tasks=tuple(self.tasks), clinical=clinical)
        start = self._continuation()
        self._set_data_attributes(data, device, start, preprocessor)
        group = self._join_processes()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        splits = self._member_splits(data, rng, start)
        devices = [self.device_] if self.device_.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), limited_threads():
            members, results = [], []
            for k, split in enumerate(splits):  # one network, or the members of an ensemble
                torch.manual_seed(seed + k)
                module, result = self._train(data, outcome, split, seed + k, group, start)
                members.append(module)
                results.append(result)
            self._keep(members, results)
            if self.refit_outcome:
                self._refit_outcome(data, outcome, seed, group, splits)
            if len(splits) > 1:
                self._out_of_fold(data, splits)
        return self

    def _member_splits(self, data: FitData, rng, start) -> list[tuple]:
        """The (training, validation) indices of the network, or of each ensemble member.

        An ensemble of ``n_members`` cuts the samples into as many folds, stratified by
        the outcome: member ``k`` trains on the others and validates (and stops early) on
        fold ``k``.
        """
        if start is not None:
            return [start.run.split]
        if self.n_members == 1:
            return [training.validation_split(
                data.strata, fraction=self.validation_fraction,
                stratify=self.validation_stratify, enabled=self.early_stopping,
                random_state=rng)]
        strata = data.strata["outcome"]
        tests = training.stratified_folds(strata, self.n_members,
                                          rng.randint(np.iinfo(np.int32).max),
                                          parameter="n_members")
        everyone = np.arange(len(strata))
        return [(np.setdiff1d(everyone, test), test) for test in tests]

    def _read_outcome(self, y, n_samples: int) -> OutcomeData:
        """Read and check ``y``: what the outcome task trains on (see :class:`OutcomeData`)."""
        raise NotImplementedError

    def _join_processes(self) -> training.ProcessGroup:
        """The processes of a data-parallel fit; each uses the GPU of its local rank."""
        group = training.process_group(self.distributed, self.device_)
        if group.world_size > 1 and self.device_.type == "cuda":
            self.device_ = torch.device("cuda", group.local_rank)
            torch.cuda.set_device(self.device_)
        return group

    def _set_data_attributes(self, data: FitData, device: torch.device, start,
                             preprocessor) -> None:
        for name, value in data.attributes.items():
            setattr(self, name, value)
        self.clinical_preprocessor_ = preprocessor
        self.n_clinical_features_ = 0 if data.clinical is None else data.clinical.shape[1]
        spatial = data.volumes.shape[1:]
        self.volume_shape_ = tuple(int(s) for s in spatial)
        self.n_features_in_ = int(np.prod(spatial))
        self.device_ = device
        self.task_weights_ = fitting.resolve_task_weights(self.get_params(deep=False))
        if start is None:
            scaling = intensity_scaling(data.volumes, self.intensity_scale)
        else:
            start.check(params=self.get_params(deep=False), attributes=vars(self),
                        n_samples=len(data.volumes))
            saved = start.record.attributes
            scaling = saved["intensity_shift_"], saved["intensity_scale_"]
        self.intensity_shift_, self.intensity_scale_ = scaling

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

    def _train(self, data: FitData, outcome: OutcomeData, split, seed: int,
               group: training.ProcessGroup, start):
        """Build the network, optimizer, loaders and callbacks; train; return both.

        Returns the trained network and its :class:`~petmtl.training.TrainingResult`. On
        divergence or an out-of-memory error the estimator keeps what the run saved
        (:meth:`_keep`) before the error propagates.
        """
        params = self.get_params(deep=False)
        configure_device(self.device_)
        memory_format = resolve_memory_format(self.memory_format, self.device_)
        built = self._build_module()
        if start is not None:
            start.check_network(built)
        module = fitting.for_training(built, self.device_, memory_format, group)
        optimizer = torch.optim.AdamW(module.parameters(), lr=self.learning_rate,
                                      weight_decay=self.weight_decay)
        loaders = fitting.make_loaders(data, split, batch_size=self.batch_size, seed=seed,
                                       group=group, pin_memory=self.device_.type == "cuda")
        task = outcome.make_task(split[0])
        setup = training.TrainingSetup(
            weights=self.task_weights_, max_epochs=self.max_epochs, outcome=task,
            augment=fitting.flip_axes(self.augment), dice_smooth=self.dice_smooth,
            seg_bce_weight=self.seg_bce_weight, generator=torch.Generator().manual_seed(seed),
            group=group)
        checkpoint = None
        if self.checkpoint_path is not None and group.is_main:
            checkpoint = training.Checkpointing(
                self.checkpoint_path, self.checkpoint_every,
                persistence.record_of(self, weights=False), split)
        callbacks = fitting.make_callbacks(
            params, outcome=task, validated=split[1] is not None and self.early_stopping,
            is_main=group.is_main, checkpoint=checkpoint)
        forward = forward_of(self, module)
        try:
            result = training.train(forward, optimizer, loaders, setup, split=split,
                                    callbacks=callbacks,
                                    start=None if start is None else start.run,
                                    keep_run=self.warm_start,
                                    memory_settings=self._memory_settings(),
                                    volume_shape=self.volume_shape_)
        except (TrainingDivergedError, DeviceOutOfMemoryError) as exc:
            result = getattr(exc, "result", None)
            self._keep([module], [result] if self.n_members == 1 else [None])
            raise
        return module, result

    def _keep(self, members: list, results: list) -> None:
        """Keep the trained network(s) and results as the fitted state (None: unfitted)."""
        if any(result is None for result in results):
            for name in FITTED:
                self.__dict__.pop(name, None)
            return
        for name in OF_ONE_RUN:
            self.__dict__.pop(name, None)
        self.members_ = [training.unwrap(module).eval() for module in members]
        self.module_ = self.members_[0]
        self.history_ = results[0].history
        self.best_epoch_ = results[0].best_epoch
        if len(members) > 1:
            self.member_histories_ = [r.history for r in results]
            self.member_best_epochs_ = [r.best_epoch for r in results]
        self._warm_start_state = None
        if results[0].run is not None:  # its weights are the network's: not kept twice
            run = dataclasses.replace(results[0].run, last_model=None, best_model=None)
            self._warm_start_state = training.Continuation(
                persistence.record_of(self, weights=False), run, "warm_start=True")

    def _refit_outcome(self, data: FitData, outcome: OutcomeData, seed: int,
                       group: training.ProcessGroup, splits: list) -> None:
        """Refit T4 as a penalised linear model of the frozen features (the last stage).

        A single network refits on every labelled sample; each member of an ensemble on
        its own training folds, so that its held-out fold stays unseen.
        """
        refits = []
        for member, (train, _) in zip(self.members_, splits, strict=True):
            refit = fitting.refit_outcome(
                forward_of(self, member), data, outcome, group=group, seed=seed,
                batch_size=2 * self.batch_size, n_outputs=self.n_outcome_outputs_,
                samples=None if len(splits) == 1 else train)
            member.outcome.set_linear(refit.weight.to(self.device_), refit.bias.to(self.device_))
            refits.append(refit)
        first = refits[0]
        self.outcome_refit_ = {"penalty": first.penalty, "cv_losses": first.cv_losses,
                               "cv_scores": first.cv_scores, "n_samples": first.n_samples}
        if len(refits) > 1:
            self.outcome_refit_["members"] = [
                {"penalty": r.penalty, "cv_scores": r.cv_scores, "n_samples": r.n_samples}
                for r in refits]
        if self.verbose and group.is_main:
            scores = ", ".join(f"{name} {value:.3f}" for name, value in first.cv_scores.items())
            print(f"petmtl fit: T4 refitted as a linear model of the frozen features "
                  f"(L2 penalty {first.penalty:g}); {len(refits) > 1 and 'first member, ' or ''}"
                  f"5-fold cross-validated {scores or 'score: not available'} on "
                  f"{first.n_samples} training patients", file=sys.stderr)
        if self.checkpoint_path is not None and group.is_main:  # the file holds it too
            persistence.update_checkpoint(self.checkpoint_path, self.module_.state_dict(),
                                          outcome_refit_=self.outcome_refit_)

    def _out_of_fold(self, data: FitData, splits: list) -> None:
        """Each ensemble member's predictions of its held-out fold (labelled samples):
        ``oof_index_`` and the outcome's out-of-fold output (e.g. ``oof_proba_``)."""
        _, labelled = data.targets["outcome"]
        index, outputs = [], []
        for member, (_, valid) in zip(self.members_, splits, strict=True):
            valid = valid[labelled[valid]]
            clinical = None if data.clinical is None else data.clinical[valid]
            raw = forward_of(self, member).predict(
                take(data.volumes, valid), ("outcome",), batch_size=2 * self.batch_size,
                clinical=clinical)["outcome"]
            index.append(valid)
            outputs.append(raw)
        order = np.argsort(np.concatenate(index))
        self.oof_index_ = np.concatenate(index)[order]
        raw = np.concatenate(outputs)[order]
        setattr(self, f"oof_{self._oof_output}_", self._outcome_values(raw, self._oof_output))

