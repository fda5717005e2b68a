"""The lesion-burden measures as a scikit-learn transformer of PET volumes."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._constraints import Interval, Options, Spacing, check_params
from .burden import BURDEN_FEATURES, lesion_burden
from .lesions import _CONSTRAINTS as _LESION_CONSTRAINTS
from .lesions import RULES, detect_lesions
from .suv import _spacing

__all__ = ["LesionBurden"]


def _per_patient(values, n: int, name: str) -> list:
    """``values`` as a list of ``n`` per-patient entries (None where not given)."""
    if values is None:
        return [None] * n
    if len(values) != n:
        raise ValueError(f"{name} must have one entry per volume ({n}), got {len(values)}")
    return list(values)


class LesionBurden(TransformerMixin, BaseEstimator):
    """Whole-body lesion-burden measures of PET volumes, for a scikit-learn ``Pipeline``.

    For each volume, lesions are found by a threshold rule (:func:`detect_lesions`) or
    taken from given lesion masks, and measured by :func:`lesion_burden`. The transformer
    learns nothing: ``fit`` only checks the parameters.

    Parameters
    ----------
    spacing : float or sequence of 3 float, default=2.0
        Voxel size in mm along the volume axes (x, y, z).
    rule : {"suv2.5", "suv4.0", "percist", "reference", "suvmax41", "mask"} or float, \
default="suv2.5"
        Threshold rule of :func:`detect_lesions`, or ``"mask"`` to measure the lesion
        masks passed as ``lesions`` to :meth:`transform` (e.g. a network's segmentation).
    min_volume_ml : float, default=0.5
        Minimum lesion volume of the threshold rules.
    connectivity : {6, 18, 26}, default=26
        Neighbourhood joining voxels into one lesion.
    seed_suv : float, default=2.5
        Seed threshold of ``"suvmax41"``.
    fraction : float in (0, 1), default=0.41
        Relative threshold of ``"suvmax41"``.
    margin_mm : float, default=10.0
        Growth margin of ``"suvmax41"``.
    body_suv : float, default=0.3
        Body threshold of the body extent that normalises Dmax.

    Attributes
    ----------
    spacing_ : ndarray of shape (3,)
        The voxel size used, in mm.

    See Also
    --------
    lesion_burden : The measures of one volume.

    Notes
    -----
    Per-volume inputs are metadata of :meth:`transform`: ``masks`` (primary tumour
    masks), ``reference`` (the reference regions of ``"percist"``/``"reference"``),
    ``region`` (where lesions may lie) and ``lesions`` (for ``rule="mask"``). In a
    ``Pipeline`` pass them through metadata routing::

        sklearn.set_config(enable_metadata_routing=True)
        burden = LesionBurden(4.0).set_transform_request(masks=True)
        model = make_pipeline(burden, SimpleImputer(add_indicator=True), StandardScaler(),
                              LogisticRegression())
        model.fit(volumes, y, masks=masks).predict(new_volumes, masks=new_masks)

    Examples
    --------
    >>> import numpy as np
    >>> from petmtl.pet import LesionBurden
    >>> X = np.ones((2, 20, 20, 20)); X[1, 2:6, 2:6, 2:6] = 6.0
    >>> LesionBurden(spacing=4.0).fit_transform(X)[:, 0]
    array([0., 1.])
    """

    _parameter_constraints = {
        "spacing": [Spacing()],
        "rule": [Options(*RULES, "mask"), _LESION_CONSTRAINTS["rule"][1]],
        "min_volume_ml": _LESION_CONSTRAINTS["min_volume_ml"],
        "connectivity": _LESION_CONSTRAINTS["connectivity"],
        "seed_suv": _LESION_CONSTRAINTS["seed_suv"],
        "fraction": _LESION_CONSTRAINTS["fraction"],
        "margin_mm": _LESION_CONSTRAINTS["margin_mm"],
        "body_suv": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, spacing=2.0, rule="suv2.5", *, min_volume_ml=0.5, connectivity=26,
                 seed_suv=2.5, fraction=0.41, margin_mm=10.0, body_suv=0.3):
        self.spacing = spacing
        self.rule = rule
        self.min_volume_ml = min_volume_ml
        self.connectivity = connectivity
        self.seed_suv = seed_suv
        self.fraction = fraction
        self.margin_mm = margin_mm
        self.body_suv = body_suv

    def fit(self, X, y=None):
        """Check the parameters and the volumes; nothing is learnt.

        Parameters
        ----------
        X : array-like of shape (n, I, J, K) or sequence of 3-D arrays
            PET volumes in SUV.
        y : ignored

        Returns
        -------
        self : LesionBurden
        """
        check_params(self.get_params(), self._parameter_constraints)
        self._volumes(X)
        self.spacing_ = _spacing(self.spacing)
        return self

    def fit_transform(self, X, y=None, **params):
        """Fit, then :meth:`transform` with the per-volume ``params``.

        Returns
        -------
        ndarray of shape (n, 8)
        """
        return self.fit(X, y).transform(X, **params)

    @staticmethod
    def _volumes(X) -> list[np.ndarray]:
        if isinstance(X, np.ndarray) and X.ndim != 4:
            raise ValueError(f"X must hold 3-D volumes, shape (n, I, J, K); got an array of "
                             f"shape {X.shape}")
        volumes = [np.asarray(v) for v in X]
        for i, v in enumerate(volumes):
            if v.ndim != 3:
                raise ValueError(f"X[{i}] must be a 3-D volume, got shape {v.shape}")
        return volumes

    def transform(self, X, masks=None, reference=None, region=None, lesions=None):
        """Lesion-burden measures of each volume.

        Parameters
        ----------
        X : array-like of shape (n, I, J, K) or sequence of 3-D arrays
            PET volumes in SUV.
        masks : sequence of array or None, optional
            Primary tumour masks (None or empty for a patient: no primary).
        reference : sequence, optional
            Per volume, the reference region of ``"percist"`` (a liver mask or the liver
            VOI's (mean, sd)) or ``"reference"`` (a mask or (mean, sd)).
        region : sequence of array or None, optional
            Per volume, where lesions may lie (None: everywhere).
        lesions : sequence of array, optional
            Per volume, a binary lesion mask or label map; required by ``rule="mask"``.

        Returns
        -------
        ndarray of float64, shape (n, 8)
            Columns as :meth:`get_feature_names_out` (:data:`BURDEN_FEATURES`).
        """
        check_is_fitted(self)
        volumes = self._volumes(X)
        n = len(volumes)
        masks, reference, region = (_per_patient(v, n, name) for v, name in (
            (masks, "masks"), (reference, "reference"), (region, "region")))
        if self.rule == "mask":
            if lesions is None:
                raise ValueError("rule='mask' needs lesions= (one lesion mask per volume)")
            lesions = _per_patient(lesions, n, "lesions")
        rows = []
        for i, volume in enumerate(volumes):
            if self.rule == "mask":
                found = lesions[i]
            else:
                found = detect_lesions(
                    volume, self.spacing_, rule=self.rule, reference=reference[i],
                    region=region[i], min_volume_ml=self.min_volume_ml,
                    connectivity=self.connectivity, seed_suv=self.seed_suv,
                    fraction=self.fraction, margin_mm=self.margin_mm)
            burden = lesion_burden(volume, found, self.spacing_, primary=masks[i],
                                   connectivity=self.connectivity, body_suv=self.body_suv)
            rows.append([burden[name] for name in BURDEN_FEATURES])
        return np.array(rows, dtype=np.float64).reshape(n, len(BURDEN_FEATURES))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        ndarray of str
            :data:`BURDEN_FEATURES`.
        """
        return np.asarray(BURDEN_FEATURES, dtype=object)
