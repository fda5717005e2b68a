"""DICOM PET -> SUV: dose, times and decay correction (the SUV manual's dose rules).

Reference values are computed by hand: an 80 kg patient, 400 MBq of F-18 (half-life
6586.2 s) injected at 10:00:00, scan start 11:06:00 (3960 s later), so the dose at the
scan start is 4e8 * 2 ** (-3960 / 6586.2) = 4e8 * 0.65917929 Bq, and 5000 Bq/ml is
SUVbw 5000 * 80000 / (4e8 * 0.65917929) = 1.5170379.
"""

import numpy as np
import pytest

pytest.importorskip("pydicom")

from petmtl.io import read_pet_dicom, read_suv_provenance  # noqa: E402

from ._dicom_synth import write_pet_series  # noqa: E402

SUV_66_MIN = 1.5170379476932365   # 5000 Bq/ml, 66 min after 400 MBq F-18, 80 kg
SUV_ADMIN = 1.0                   # 5000 * 80000 / 4e8
STORED = np.full((2, 2, 3), 10000, dtype=np.int16)   # x slope 0.5 = 5000 Bq/ml


def _read(tmp_path, stored=STORED, suv="bw", **kwargs):
    folder = tmp_path / "pet"
    kwargs.setdefault("slopes", [0.5] * len(stored))
    write_pet_series(folder, stored, **kwargs)
    return read_pet_dicom(folder, suv=suv)


def _values(img):
    return np.asarray(img.dataobj, dtype=np.float64)


def test_start_uses_series_time(tmp_path):
    img = _read(tmp_path)
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)
    record = read_suv_provenance(img)
    assert record["reference_time_source"] == "SeriesDate/SeriesTime"
    assert record["reference_time"] == "2025-01-01T11:06:00"


def test_start_multi_bed_per_slice_acquisition_times_and_slopes(tmp_path):
    # two beds: acquisition times 11:06:00 and 11:09:00; decay-corrected to the series start
    stored = np.array([np.full((2, 3), 10000), np.full((2, 3), 20000),
                       np.full((2, 3), 4000)], dtype=np.int16)
    img = _read(tmp_path, stored, slopes=[0.5, 0.25, 1.25],
                per_slice={"AcquisitionTime": ["110600", "110600", "110900"]})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)


def test_series_time_after_acquisition_is_back_computed(tmp_path):
    # SeriesTime rewritten by post-processing (12:30); each bed's start + T_ave - frame
    # reference time gives 11:06:00 again
    frame_ref = [89857.92, 89857.92, 89857.92 + 180000]
    img = _read(tmp_path, np.stack([STORED[0]] * 3), slopes=[0.5] * 3,
                header={"SeriesTime": "123000"},
                per_slice={"AcquisitionTime": ["110600", "110600", "110900"],
                           "FrameReferenceTime": frame_ref})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)
    record = read_suv_provenance(img)
    assert record["reference_time_source"].startswith("back-computed")
    assert record["series_time_after_acquisition"] is True


def test_back_computation_with_half_frame_reference(tmp_path):
    # FrameReferenceTime = T / 2 (90 s) instead of T_ave (89.86 s): 0.14 s off the start
    img = _read(tmp_path, header={"SeriesTime": "123000", "FrameReferenceTime": 90000.0})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-4)


def test_back_computation_refuses_inconsistent_beds(tmp_path):
    with pytest.raises(ValueError, match="FrameReferenceTime.*no single DecayCorrection"):
        _read(tmp_path, header={"SeriesTime": "123000"},
              per_slice={"AcquisitionTime": ["110600", "112000"]})


def test_back_computation_refuses_a_reference_after_the_acquisition(tmp_path):
    # FrameReferenceTime 0 (as some GE series store it) would put the start 90 s after the
    # acquisition began, which DecayCorrection START cannot mean
    with pytest.raises(ValueError, match="90 s after the earliest acquisition"):
        _read(tmp_path, header={"SeriesTime": "123000", "FrameReferenceTime": 0.0})


@pytest.mark.parametrize("missing", ["FrameReferenceTime", "ActualFrameDuration"])
def test_back_computation_needs_frame_timing(tmp_path, missing):
    with pytest.raises(ValueError, match=missing) as info:
        _read(tmp_path, header={"SeriesTime": "123000", missing: None})
    assert "\n" not in str(info.value)


def test_ge_private_scan_datetime_wins(tmp_path):
    # SeriesTime and AcquisitionTime both wrong (12:00); GE's scan datetime is the start
    img = _read(tmp_path, header={"SeriesTime": "120000", "AcquisitionTime": "120000",
                                  "Manufacturer": "GE MEDICAL SYSTEMS"},
                private={(0x0009, 0x0010): ("LO", "GEMS_PETD_01"),
                         (0x0009, 0x100D): ("DT", "20250101110600.00")})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)
    assert "0009,100D" in read_suv_provenance(img)["reference_time_source"]


def test_private_tag_of_another_creator_is_ignored(tmp_path):
    img = _read(tmp_path, private={(0x0009, 0x0010): ("LO", "SOME OTHER VENDOR"),
                                   (0x0009, 0x100D): ("DT", "20250101120000.00")})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)


def test_admin(tmp_path):
    img = _read(tmp_path, header={"DecayCorrection": "ADMIN", "SeriesTime": None})
    np.testing.assert_allclose(_values(img), SUV_ADMIN, rtol=1e-6)


def test_none_per_slice_frames(tmp_path):
    """Uncorrected frames: each slice holds its frame's mean activity of a region whose
    activity at injection was 5000 Bq/ml, so every slice is SUVbw 1.0 (ADMIN-equivalent)."""
    half_life, frame = 6586.2, 180.0
    starts = [3960.0, 3960.0, 4200.0]  # s after injection (11:06:00, 11:06:00, 11:10:00)
    stored, slopes = [], []
    for t0 in starts:
        # mean of 5000 * 2 ** (-t / T1/2) over the frame, by the trapezoid rule
        t = np.linspace(t0, t0 + frame, 20001)
        mean = np.trapezoid(5000 * 2 ** (-t / half_life), t) / frame
        stored.append(np.full((2, 3), 30000, dtype=np.int16))
        slopes.append(mean / 30000)
    img = _read(tmp_path, np.stack(stored), slopes=slopes,
                header={"DecayCorrection": "NONE"},
                per_slice={"AcquisitionTime": ["110600", "110600", "111000"]})
    np.testing.assert_allclose(_values(img), SUV_ADMIN, rtol=1e-6)


def test_dose_in_mbq(tmp_path):
    img = _read(tmp_path, rp={"RadionuclideTotalDose": 400.0})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)
    assert read_suv_provenance(img)["dose_unit_in_file"] == "MBq"


def test_dose_of_unknown_unit_is_refused(tmp_path):
    with pytest.raises(ValueError, match="RadionuclideTotalDose.*unit cannot be told"):
        _read(tmp_path, rp={"RadionuclideTotalDose": 50000.0})


def test_radiopharmaceutical_datetime_only(tmp_path):
    img = _read(tmp_path, rp={"RadiopharmaceuticalStartTime": None})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)


def test_radiopharmaceutical_time_only(tmp_path):
    img = _read(tmp_path, rp={"RadiopharmaceuticalStartDateTime": None})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)


def test_datetime_wins_over_a_date_shifted_series(tmp_path):
    # the injection datetime is the day before, 25 h 06 min before the scan
    img = _read(tmp_path, rp={"RadiopharmaceuticalStartDateTime": "20241231100000",
                              "RadiopharmaceuticalStartTime": None})
    expected = 5000 * 80000 / (4e8 * 2 ** (-(90360) / 6586.2))
    np.testing.assert_allclose(_values(img), expected, rtol=1e-6)


def test_contradictory_injection_times(tmp_path):
    with pytest.raises(ValueError, match="RadiopharmaceuticalStartDateTime.*"
                                         "RadiopharmaceuticalStartTime.*different"):
        _read(tmp_path, rp={"RadiopharmaceuticalStartTime": "101500"})


def test_injection_before_midnight(tmp_path):
    # injected 23:30:00 on Jan 1st, scan 00:36:00 on Jan 2nd: 66 min, only the time given
    img = _read(tmp_path, header={"SeriesDate": "20250102", "SeriesTime": "003600",
                                  "AcquisitionDate": "20250102", "AcquisitionTime": "003600"},
                rp={"RadiopharmaceuticalStartDateTime": None,
                    "RadiopharmaceuticalStartTime": "233000"})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)
    assert "before midnight" in read_suv_provenance(img)["administration_time_source"]


def test_injection_after_the_scan_on_the_same_day_is_refused(tmp_path):
    # 11:10 injection, 11:06 scan: the previous day would be 23.9 h of uptake
    with pytest.raises(ValueError, match="RadiopharmaceuticalStartTime.*implausible"):
        _read(tmp_path, rp={"RadiopharmaceuticalStartDateTime": None,
                            "RadiopharmaceuticalStartTime": "111000"})


def test_injection_datetime_after_the_scan_is_refused(tmp_path):
    with pytest.raises(ValueError, match="injection.*after the scan"):
        _read(tmp_path, rp={"RadiopharmaceuticalStartDateTime": "20250101113000",
                            "RadiopharmaceuticalStartTime": None})


def test_half_life_from_the_file(tmp_path):
    # Ga-68 (4057.7 s): 5000 * 80000 / (4e8 * 2 ** (-3960 / 4057.7))
    img = _read(tmp_path, rp={"RadionuclideHalfLife": 4057.7},
                nuclide_code=("C-131A3", "SRT", "^68^Gallium"))
    np.testing.assert_allclose(_values(img), 1.0 / 0.5084147106389303, rtol=1e-6)


def test_half_life_from_the_radionuclide_code(tmp_path):
    img = _read(tmp_path, rp={"RadionuclideHalfLife": None})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)
    assert "F-18" in read_suv_provenance(img)["half_life_source"]


def test_half_life_contradicting_the_code_is_refused(tmp_path):
    with pytest.raises(ValueError, match="RadionuclideHalfLife.*contradicts"):
        _read(tmp_path, rp={"RadionuclideHalfLife": 4057.7})


def test_without_half_life_or_code(tmp_path):
    with pytest.raises(ValueError, match="RadionuclideHalfLife.*missing"):
        _read(tmp_path, rp={"RadionuclideHalfLife": None}, nuclide_code=None)


def test_decay_correction_value_is_checked(tmp_path):
    with pytest.raises(ValueError, match="DecayCorrection.*'FOO'"):
        _read(tmp_path, header={"DecayCorrection": "FOO"})


def test_decay_correction_differing_between_slices(tmp_path):
    with pytest.raises(ValueError, match="DecayCorrection.*differs between slices"):
        _read(tmp_path, per_slice={"DecayCorrection": ["START", "ADMIN"]})

