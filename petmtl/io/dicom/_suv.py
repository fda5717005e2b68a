"""From stored PET voxel values to SUV (or Bq/ml) by the rules of the SUV manual.

Vacha et al., "Comprehensive Manual for SUV Computation and Digital Reference Objects for
its Verification" (2026): rescale slope per slice, the stored unit (BQML, GML with its
SUVType, CM2ML, CNTS with Philips' scale factors, CPS), patient weight, dose and decay.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._attrs import SeriesAttributes, as_float, as_text, label
from ._body import FORMULAS
from ._decay import effective_dose

# suv= values: the SUVType whose body-size measure normalises (None: body weight).
SUV_CHOICES = {"bw": "BW", "lbm": "LBMJANMA", "lbmjanma": "LBMJANMA",
               "lbmjames128": "LBMJAMES128", "bsa": "BSA", "ibw": "IBW", "bqml": None}
SUV_UNITS = {"bw": "g/ml", "lbm": "g/ml", "lbmjanma": "g/ml", "lbmjames128": "g/ml",
             "bsa": "cm2/ml", "ibw": "g/ml", "bqml": "Bq/ml"}
_REFUSED_UNITS = {
    "PROPCNTS": "proportional to counts; its calibration is not documented",
    "PROPCPS": "proportional to counts per second (non-quantitative images); its calibration "
               "is not documented",
    "1CM": "an attenuation (mu) map, not activity",
    "NPREF": "counts per second not normalised to a reference",
}
_PHILIPS = ("PHILIPS",)


def check_suv(suv) -> str:
    """Validate ``suv=`` and return it in lower case.

    Parameters
    ----------
    suv : str

    Returns
    -------
    str
    """
    if not isinstance(suv, str) or suv.lower() not in SUV_CHOICES:
        raise ValueError(f"suv must be one of {sorted(SUV_CHOICES)}, got {suv!r}")
    return suv.lower()


class _Patient:
    """Weight, height and sex, read on first use (only the conversions that need them)."""

    def __init__(self, attrs: SeriesAttributes, info: dict) -> None:
        self.attrs, self.info = attrs, info
        self._weight = None

    def weight_kg(self, why: str) -> float:
        if self._weight is None:
            w = self.attrs.series("PatientWeight", convert=as_float, why=why)
            if not w > 0:
                raise self.attrs.error(f"{label('PatientWeight')} = {w} is not a positive "
                                       "weight", "PatientWeight")
            if w > 1000:  # entered in grams (manual: "Patient's weight")
                self.info["weight_in_file"] = w
                self.info["weight_unit_in_file"] = "g"
                w /= 1000.0
            self.info["weight_kg"] = self._weight = w
        return self._weight

    def size(self, suvtype: str, why: str) -> float:
        """The SUVType's body-size measure in g (LBM, IBW) or cm^2 (BSA)."""
        formula, unit, to_suv_unit = FORMULAS[suvtype]
        weight = self.weight_kg(why)
        height = self.attrs.series("PatientSize", convert=as_float, why=why)
        if not 0 < height < 3:
            raise self.attrs.error(f"{label('PatientSize')} = {height:g} is not a height in "
                                   "metres", "PatientSize")
        sex = "O"
        if suvtype != "BSA":
            sex = self.attrs.series("PatientSex", convert=as_text, why=why)
            if sex not in ("M", "F", "O"):
                raise self.attrs.error(f"{label('PatientSex')} = {sex!r} is not M, F or O",
                                       "PatientSex")
        value = formula(weight, height * 100.0, sex)
        if not value > 0:
            raise self.attrs.error(f"the {suvtype} formula gives {value:.3g} {unit} for "
                                   f"weight {weight:g} kg, height {height:g} m, sex {sex}",
                                   "PatientWeight")
        self.info.setdefault("body_size", {})[suvtype] = {"value": value, "unit": unit,
                                                          "sex_used": sex}
        return value * to_suv_unit


def rescale_slopes(attrs: SeriesAttributes) -> np.ndarray:
    """Per-slice RescaleSlope; a RescaleIntercept other than 0 is refused (manual)."""
    why = "to turn stored values into the image's unit"
    slopes = np.asarray(attrs.per_slice("RescaleSlope", why=why), dtype=np.float64)
    intercepts = np.asarray(attrs.per_slice("RescaleIntercept", why=why), dtype=np.float64)
    if np.any(intercepts != 0):
        bad = intercepts[intercepts != 0][0]
        raise attrs.error(f"{label('RescaleIntercept')} = {bad:g}; PET requires 0 and SUV "
                          "cannot be computed from an offset", "RescaleIntercept")
    if not np.all(np.isfinite(slopes)) or np.any(slopes == 0):
        raise attrs.error(f"{label('RescaleSlope')} must be finite and non-zero",
                          "RescaleSlope")
    return slopes


def _corrections(attrs: SeriesAttributes, *, required: bool) -> list[str] | None:
    value = attrs.series("CorrectedImage", required=required, convert=as_text,
                         why="to check the image is attenuation corrected and normalised")
    return None if value is None else value.split("\\")


def _cps_factor(attrs: SeriesAttributes, info: dict) -> np.ndarray:
    """Counts per second per voxel -> Bq/ml (manual: Units CPS)."""
    corrected = _corrections(attrs, required=True)
    missing = [c for c in ("ATTN", "NORM") if c not in corrected]
    if missing:
        raise attrs.error(f"{label('CorrectedImage')} lacks {missing}: counts of an image "
                          "without attenuation correction and normalisation cannot be "
                          "converted to activity", "CorrectedImage")
    why = "to convert counts per second per voxel to Bq/ml"
    spacing = attrs.series("PixelSpacing", convert=lambda v: tuple(float(x) for x in v),
                           why=why)
    thickness = attrs.series("SliceThickness", convert=as_float, why=why)
    volume_ml = spacing[0] * spacing[1] * thickness / 1000.0
    if not volume_ml > 0:
        raise attrs.error(f"voxel volume from PixelSpacing and SliceThickness is {volume_ml}",
                          "SliceThickness")
    info["voxel_volume_ml"] = volume_ml
    n = len(attrs.datasets)
    if "DCAL" in corrected:
        return np.full(n, 1.0 / volume_ml)
    calibration = np.asarray(attrs.per_slice("DoseCalibrationFactor", why=why + " (the "
                             "image is not dose calibrated: no DCAL in CorrectedImage)"))
    return calibration / volume_ml


def _philips_factor(attrs, tag, name):
    values = attrs.private(0x7053, tag, _PHILIPS, name=name, convert=as_float,
                           why="to convert Philips counts")
    if values is None or np.any(np.asarray(values) == 0):  # 0.0: "cannot be converted"
        return None
    return np.asarray(values, dtype=np.float64)


def stored_quantity(attrs: SeriesAttributes, patient: _Patient, info: dict,
                    want_activity: bool) -> tuple[str, np.ndarray]:
    """What the rescaled values are, as ``('activity' | 'suvbw', per-slice factor)``.

    ``factor * m * P`` is the activity concentration (Bq/ml) or SUVbw (g/ml).
    """
    n = len(attrs.datasets)
    units = attrs.series("Units", why="to know what the voxel values measure")
    info["units"] = units
    if units in ("BQML", "GML", "CM2ML"):
        corrected = _corrections(attrs, required=False)
        if corrected is not None and "ATTN" not in corrected:
            warnings.warn(f"{attrs.where}: CorrectedImage (0028,0051) lacks ATTN: the image "
                          "is not attenuation corrected, so its SUV is not quantitative",
                          UserWarning, stacklevel=4)
    if units == "BQML":
        return "activity", np.ones(n)
    if units == "GML":
        suvtype = attrs.series("SUVType", required=False, why="to know the SUV's normaliser")
        if suvtype is None:
            info["suv_type_in_file"] = "BW (SUVType absent: body weight, as the manual says)"
            return "suvbw", np.ones(n)
        info["suv_type_in_file"] = suvtype
        if suvtype == "BW":
            return "suvbw", np.ones(n)
        if suvtype not in FORMULAS or suvtype == "BSA":
            raise attrs.error(f"{label('SUVType')} = {suvtype!r} does not fit Units GML "
                              "(expected BW, LBM, LBMJAMES128, LBMJANMA or IBW)", "SUVType")
        why = f"to convert SUV{suvtype.lower()} (Units GML) to SUVbw"
        return "suvbw", np.full(n, patient.weight_kg(why) * 1e3 / patient.size(suvtype, why))
    if units == "CM2ML":
        suvtype = attrs.series("SUVType", required=False, why="to know the SUV's normaliser")
        if suvtype not in (None, "BSA"):
            raise attrs.error(f"{label('SUVType')} = {suvtype!r} contradicts Units CM2ML "
                              "(body surface area, SUVType BSA)", "SUVType")
        info["suv_type_in_file"] = "BSA"
        why = "to convert SUVbsa (Units CM2ML) to SUVbw"
        return "suvbw", np.full(n, patient.weight_kg(why) * 1e3 / patient.size("BSA", why))
    if units == "CNTS":
        return _counts(attrs, info, want_activity)
    if units == "CPS":
        return "activity", _cps_factor(attrs, info)
    reason = _REFUSED_UNITS.get(units, "not a unit SUV can be computed from")
    raise attrs.error(f"{label('Units')} = {units!r} cannot be converted to SUV: {reason}",
                      "Units")


def _counts(attrs, info, want_activity):
    """Philips CNTS: SUV scale factor, activity concentration scale factor, or counts per
    second through the frame duration."""
    suv_scale = _philips_factor(attrs, 0x1000, "Philips SUV scale factor")
    activity_scale = _philips_factor(attrs, 0x1009, "Philips activity concentration scale "
                                                    "factor")
    if suv_scale is not None and (activity_scale is None or not want_activity):
        info["counts_conversion"] = "Philips SUV scale factor (7053,1000)"
        return "suvbw", suv_scale
    if activity_scale is not None:
        info["counts_conversion"] = "Philips activity concentration scale factor (7053,1009)"
        return "activity", activity_scale
    why = "to convert counts to counts per second (Units CNTS without Philips scale factors)"
    duration = np.asarray(attrs.per_slice("ActualFrameDuration", why=why)) / 1000.0
    if not np.all(duration > 0):
        raise attrs.error(f"{label('ActualFrameDuration')} must be positive",
                          "ActualFrameDuration")
    info["counts_conversion"] = "counts / ActualFrameDuration, then the CPS rule"
    return "activity", _cps_factor(attrs, info) / duration


def suv_factors(attrs: SeriesAttributes, suv: str) -> tuple[np.ndarray, dict]:
    """Per-slice factors turning stored voxel values into the ``suv`` quantity.

    Parameters
    ----------
    attrs : SeriesAttributes
        The sorted slices of one PET series.
    suv : str
        One of :data:`SUV_CHOICES`.

    Returns
    -------
    factors : ndarray of float64, shape (n_slices,)
        ``value = stored * factors[k]`` in slice ``k`` (rescale slope included).
    info : dict
        How the values were obtained (see :func:`read_pet_dicom`).
    """
    suv = check_suv(suv)
    info: dict = {"suv": suv, "unit": SUV_UNITS[suv]}
    patient = _Patient(attrs, info)
    slopes = rescale_slopes(attrs)
    kind, factor = stored_quantity(attrs, patient, info, want_activity=suv == "bqml")
    target = SUV_CHOICES[suv]
    why = f"to compute {'activity concentration' if suv == 'bqml' else 'SUV' + suv}"
    if suv == "bqml":
        if kind == "suvbw":  # Bq/ml = SUVbw * dose / weight
            factor = factor * effective_dose(attrs, info) / (patient.weight_kg(why) * 1e3)
    elif kind == "suvbw":
        if target != "BW":
            factor = factor * patient.size(target, why) / (patient.weight_kg(why) * 1e3)
    else:
        size = patient.weight_kg(why) * 1e3 if target == "BW" else patient.size(target, why)
        factor = factor * size / effective_dose(attrs, info)
    return slopes * factor, info
