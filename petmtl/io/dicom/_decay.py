"""The administered dose at the time the voxel values refer to (manual: "Radiopharmaceutical
dose", "Radiopharmaceutical start time", "Radiopharmaceutical half-life")."""

from __future__ import annotations

import datetime as _dt
import math

import numpy as np

from ._attrs import RP_SEQUENCE, SeriesAttributes, as_float, as_text, label
from ._radionuclides import HALF_LIFE_S, nuclide_from_code
from ._times import parse_da, parse_dt, parse_tm, seconds_between

# A dose below this is taken as MBq, at or above _BQ_FROM as Bq; between: refused.
_MBQ_BELOW = 1e4
_BQ_FROM = 1e6
# An injection on the previous day (time without date) longer ago than this is refused.
_MAX_ROLLOVER_UPTAKE_S = 12 * 3600.0
_GE_CREATORS = ("GEMS_PETD",)


def half_life(attrs: SeriesAttributes, info: dict) -> float:
    """RadionuclideHalfLife (s), or the half-life of the RadionuclideCodeSequence's nuclide."""
    why = "to decay-correct the dose"
    value = attrs.series("RadionuclideHalfLife", seq=RP_SEQUENCE, required=False,
                         convert=as_float, why=why)
    nuclide = _nuclide(attrs)
    if value is not None:
        if not value > 0:
            raise attrs.error(f"{label('RadionuclideHalfLife')} = {value} is not a positive "
                              "number of seconds", "RadionuclideHalfLife")
        if nuclide is not None and abs(value / HALF_LIFE_S[nuclide] - 1) > 0.05:
            raise attrs.error(
                f"{label('RadionuclideHalfLife')} = {value:g} s contradicts "
                f"{label('RadionuclideCodeSequence')} ({nuclide}, half-life "
                f"{HALF_LIFE_S[nuclide]:.6g} s)", "RadionuclideHalfLife")
        info.update(half_life_s=value, half_life_source=label("RadionuclideHalfLife"))
        return value
    if nuclide is None:
        raise attrs.error(f"{label('RadionuclideHalfLife', RP_SEQUENCE)} is missing and "
                          f"{label('RadionuclideCodeSequence')} names no radionuclide with a "
                          f"known half-life; it is needed {why}", "RadionuclideHalfLife")
    info.update(half_life_s=HALF_LIFE_S[nuclide],
                half_life_source=f"{label('RadionuclideCodeSequence')}: {nuclide}")
    return HALF_LIFE_S[nuclide]


def _nuclide(attrs: SeriesAttributes) -> str | None:
    rp = attrs.datasets[0].get(RP_SEQUENCE)
    codes = rp[0].get("RadionuclideCodeSequence") if rp else None
    if not codes:
        return None
    code = codes[0]
    nuclide = nuclide_from_code(str(code.get("CodeValue", "") or ""),
                                str(code.get("CodeMeaning", "") or ""))
    if nuclide is not None:
        attrs.used[label("RadionuclideCodeSequence")] = nuclide
    return nuclide


def dose_bq(attrs: SeriesAttributes, info: dict) -> float:
    """RadionuclideTotalDose in Bq; a value that can only be MBq is converted."""
    name = label("RadionuclideTotalDose", RP_SEQUENCE)
    dose = attrs.series("RadionuclideTotalDose", seq=RP_SEQUENCE, convert=as_float,
                        why="to compute SUV from activity concentration")
    if not dose > 0:
        raise attrs.error(f"{name} = {dose} is not a positive dose", "RadionuclideTotalDose")
    if dose < _MBQ_BELOW:
        info.update(dose_in_file=dose, dose_unit_in_file="MBq")
        dose *= 1e6
    elif dose < _BQ_FROM:
        raise attrs.error(f"{name} = {dose:g} is neither a plausible dose in Bq (>= 1 MBq) nor "
                          "in MBq (< 10 GBq); the unit cannot be told", "RadionuclideTotalDose")
    else:
        info.update(dose_in_file=dose, dose_unit_in_file="Bq")
    info["dose_bq"] = dose
    return dose


def _scan_date(attrs: SeriesAttributes) -> _dt.date:
    """The date to complete a time given without one: SeriesDate, AcquisitionDate or
    StudyDate, the first present."""
    for keyword in ("SeriesDate", "AcquisitionDate", "StudyDate"):
        value = attrs.series(keyword, required=False, convert=parse_da, why="")
        if value is not None:
            return value
    raise attrs.error("SeriesDate (0008,0021), AcquisitionDate (0008,0022) and StudyDate "
                      "(0008,0020) are all missing; a date is needed to place the scan and "
                      "injection times", "SeriesDate")


def acquisition_datetimes(attrs: SeriesAttributes, *, required: bool, why: str):
    """Per-slice AcquisitionDateTime, or AcquisitionDate (or the scan date) + AcquisitionTime."""
    values = attrs.per_slice("AcquisitionDateTime", required=False, convert=parse_dt, why=why)
    if values is not None:
        return values
    times = attrs.per_slice("AcquisitionTime", required=required, convert=parse_tm, why=why)
    if times is None:
        return None
    dates = attrs.per_slice("AcquisitionDate", required=False, convert=parse_da, why=why)
    dates = dates or [_scan_date(attrs)] * len(times)
    return [_dt.datetime.combine(d, t) for d, t in zip(dates, times, strict=True)]


def administration_datetime(attrs: SeriesAttributes, scan: _dt.datetime,
                            info: dict) -> _dt.datetime:
    """Radiopharmaceutical start: its DT, or its TM on the scan's date (the day before when
    that would follow the scan, i.e. an injection before midnight)."""
    why = "to decay-correct the dose"
    full = attrs.series("RadiopharmaceuticalStartDateTime", seq=RP_SEQUENCE, required=False,
                        convert=parse_dt, why=why)
    time = attrs.series("RadiopharmaceuticalStartTime", seq=RP_SEQUENCE, required=False,
                        convert=parse_tm, why=why)
    dt_name = label("RadiopharmaceuticalStartDateTime")
    tm_name = label("RadiopharmaceuticalStartTime")
    if full is None and time is None:
        raise attrs.error(f"{dt_name} and {tm_name} in {RP_SEQUENCE} are both missing; the "
                          f"injection time is needed {why}", "RadiopharmaceuticalStartDateTime")
    if full is not None:
        if time is not None and abs(_seconds_of_day(full.time()) - _seconds_of_day(time)) > 1:
            raise attrs.error(f"{dt_name} ({full.time()}) and {tm_name} ({time}) give "
                              "different injection times", "RadiopharmaceuticalStartTime")
        source = dt_name
    else:
        full = _dt.datetime.combine(scan.date(), time)
        source = f"{tm_name} on the scan date"
        if full > scan:
            full -= _dt.timedelta(days=1)
            uptake = seconds_between(scan, full)
            if uptake > _MAX_ROLLOVER_UPTAKE_S:
                raise attrs.error(
                    f"{tm_name} {time} is later in the day than the scan ({scan.time()}) and "
                    f"{dt_name} is missing; an injection the day before would mean "
                    f"{uptake / 3600:.1f} h of uptake, which is implausible",
                    "RadiopharmaceuticalStartTime")
            source = f"{tm_name} on the day before the scan (injection before midnight)"
    if full > scan:
        raise attrs.error(f"the injection ({source}: {full.isoformat()}) is after the scan "
                          f"reference time {scan.isoformat()}", "RadiopharmaceuticalStartDateTime")
    info.update(administration_time=full.isoformat(), administration_time_source=source)
    return full


def _seconds_of_day(t: _dt.time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def _mean_count_offset(lam: float, duration_s: np.ndarray) -> np.ndarray:
    """T_ave = ln(lam T / (1 - exp(-lam T))) / lam: when, after the frame start, the activity
    equals the frame's mean activity."""
    x = lam * duration_s
    return np.log(x / -np.expm1(-x)) / lam


def start_reference(attrs: SeriesAttributes, lam: float, info: dict) -> _dt.datetime:
    """The time DecayCorrection START refers to (QIBA's order, then the manual's back-
    computation from acquisition time, frame reference time and frame duration)."""
    why = "to find the time the image is decay-corrected to (DecayCorrection START)"
    ge = attrs.private(0x0009, 0x100D, _GE_CREATORS, name="GE PET scan datetime",
                       convert=parse_dt, why=why)
    if ge is not None:
        if len(set(ge)) > 1:
            raise attrs.error("GE PET scan datetime (0009,100D) differs between slices",
                              "(0009,100D)")
        info.update(reference_time=ge[0].isoformat(),
                    reference_time_source="GE private PET scan datetime (0009,100D)")
        return ge[0]
    stime = attrs.series("SeriesTime", required=False, convert=parse_tm, why=why)
    acquired = acquisition_datetimes(attrs, required=False, why=why)
    if stime is not None:
        sdate = attrs.series("SeriesDate", required=False, convert=parse_da, why=why)
        series_dt = _dt.datetime.combine(sdate or _scan_date(attrs), stime)
        if acquired is None or series_dt <= min(acquired):
            source = "SeriesDate/SeriesTime" + (
                "" if acquired is not None else " (AcquisitionTime absent: not checked)")
            info.update(reference_time=series_dt.isoformat(), reference_time_source=source)
            return series_dt
        info["series_time_after_acquisition"] = True
    return _back_computed_start(attrs, lam, acquired, info, why)


def _back_computed_start(attrs, lam, acquired, info, why) -> _dt.datetime:
    if acquired is None:
        acquired = acquisition_datetimes(attrs, required=True, why=why)
    duration = np.asarray(attrs.per_slice("ActualFrameDuration", convert=as_float, why=why)
                          ) / 1000.0
    offset = np.asarray(attrs.per_slice("FrameReferenceTime", convert=as_float, why=why)
                        ) / 1000.0
    if not np.all(duration > 0):
        raise attrs.error(f"{label('ActualFrameDuration')} must be positive",
                          "ActualFrameDuration")
    shift = _mean_count_offset(lam, duration) - offset
    first = min(acquired)
    ref_s = np.array([seconds_between(a, first) for a in acquired]) + shift
    spread = float(ref_s.max() - ref_s.min())
    tolerance = max(2.0, 0.005 / lam)  # 0.5 % of dose
    if spread > tolerance:
        raise attrs.error(
            f"AcquisitionTime, FrameReferenceTime and ActualFrameDuration give start times "
            f"{spread:.1f} s apart between slices (tolerance {tolerance:.1f} s); the series "
            "has no single DecayCorrection START reference", "FrameReferenceTime")
    if ref_s.mean() > tolerance:  # START refers to the acquisition start, not later
        raise attrs.error(
            f"AcquisitionTime, FrameReferenceTime and ActualFrameDuration put the START "
            f"reference {ref_s.mean():.0f} s after the earliest acquisition; "
            f"FrameReferenceTime must be the frames' mean-count time from the series start",
            "FrameReferenceTime")
    ref = first + _dt.timedelta(seconds=float(np.mean(ref_s)))
    info.update(reference_time=ref.isoformat(),
                reference_time_source="back-computed: AcquisitionTime + T_ave(ActualFrame"
                                      "Duration) - FrameReferenceTime",
                reference_time_spread_s=spread)
    return ref


def effective_dose(attrs: SeriesAttributes, info: dict) -> np.ndarray:
    """Per-slice dose (Bq) decayed to the time each slice's values refer to.

    ADMIN: the administered dose. START: decayed to the series' start reference. NONE: the
    slice's values are its frame's mean activity, so the dose is decayed to the frame
    start and averaged over the frame.
    """
    n = len(attrs.datasets)
    correction = attrs.series("DecayCorrection", convert=as_text,
                              why="to know which time the voxel values refer to")
    info["decay_correction"] = correction
    dose = dose_bq(attrs, info)
    if correction == "ADMIN":
        return np.full(n, dose)
    if correction not in ("START", "NONE"):
        raise attrs.error(f"{label('DecayCorrection')} = {correction!r} is not one of "
                          "START, ADMIN, NONE", "DecayCorrection")
    lam = math.log(2.0) / half_life(attrs, info)
    if correction == "START":
        ref = start_reference(attrs, lam, info)
        injected = administration_datetime(attrs, ref, info)
        factor = math.exp(-lam * seconds_between(ref, injected))
        info["dose_decay_factor"] = factor
        return np.full(n, dose * factor)
    why = "to decay-correct each frame (DecayCorrection NONE)"
    acquired = acquisition_datetimes(attrs, required=True, why=why)
    duration = np.asarray(attrs.per_slice("ActualFrameDuration", convert=as_float, why=why)
                          ) / 1000.0
    if not np.all(duration > 0):
        raise attrs.error(f"{label('ActualFrameDuration')} must be positive",
                          "ActualFrameDuration")
    injected = administration_datetime(attrs, min(acquired), info)
    elapsed = np.array([seconds_between(a, injected) for a in acquired])
    x = lam * duration
    return dose * np.exp(-lam * elapsed) * (-np.expm1(-x) / x)
