"""DICOM PET -> SUV: stored units (BQML, GML with each SUVType, CM2ML, CNTS, CPS) and the
SUV normalisations. Patient: 80 kg, 1.80 m, male unless stated.

Hand-computed body sizes (W = 80 kg, H = 180 cm, (W/H)^2 = 0.19753086, BMI 24.691358):
  LBM Morgan, male    1.10 * 80 - 120 * 0.19753086        = 64.296296 kg
  LBM James-128, male 1.10 * 80 - 128 * 0.19753086        = 62.716049 kg
  LBM Janmahasatian   male 9270 * 80 / (6680 + 216 * BMI)  = 61.731410 kg
                      female 9270 * 80 / (8780 + 244 * BMI) = 50.092230 kg
  IBW                 male 48 + 1.06 * 28 = 77.68, female 45.5 + 0.91 * 28 = 70.98 kg
  BSA Du Bois         0.007184 * 180^0.725 * 80^0.425      = 1.9964210 m^2
"""

import numpy as np
import pytest

pytest.importorskip("pydicom")

from petmtl.io import read_pet_dicom, read_suv_provenance  # noqa: E402

from ._dicom_synth import write_pet_series  # noqa: E402

SUV_66_MIN = 1.5170379476932365  # 5000 Bq/ml, 66 min after 400 MBq F-18, 80 kg
LBM_MORGAN_M, LBM_JAMES_M = 64.29629629629630, 62.71604938271605
LBM_JANMA_M, LBM_JANMA_F = 61.73140954495006, 50.09222969028836
IBW_M, IBW_F, BSA = 77.68, 70.98, 1.996421022275045
STORED = np.full((2, 2, 3), 15000, dtype=np.int16)  # x slope 1e-4 = 1.5


def _read(tmp_path, header, suv="bw", stored=STORED, slopes=(1e-4, 1e-4), **kwargs):
    folder = tmp_path / "pet"
    write_pet_series(folder, stored, slopes=slopes, header=header, **kwargs)
    return read_pet_dicom(folder, suv=suv)


def _values(img):
    return np.asarray(img.dataobj, dtype=np.float64)


@pytest.mark.parametrize(("suvtype", "sex", "size_kg"), [
    ("BW", "M", 80.0), (None, "M", 80.0), ("LBM", "M", LBM_MORGAN_M),
    ("LBMJAMES128", "M", LBM_JAMES_M), ("LBMJANMA", "M", LBM_JANMA_M),
    ("LBMJANMA", "F", LBM_JANMA_F), ("IBW", "M", IBW_M), ("IBW", "F", IBW_F),
    ("IBW", "O", (IBW_M + IBW_F) / 2), ("LBMJANMA", "O", (LBM_JANMA_M + LBM_JANMA_F) / 2),
])
def test_gml_with_each_suv_type(tmp_path, suvtype, sex, size_kg):
    # stored SUV of the type is 1.5; SUVbw = 1.5 * W / size
    img = _read(tmp_path, {"Units": "GML", "SUVType": suvtype, "PatientSex": sex})
    np.testing.assert_allclose(_values(img), 1.5 * 80.0 / size_kg, rtol=1e-6)


def test_gml_bw_needs_no_patient_or_dose_attributes(tmp_path):
    img = _read(tmp_path, {"Units": "GML", "SUVType": "BW", "PatientWeight": None,
                           "DecayCorrection": None, "PatientSize": None},
                rp={"RadionuclideTotalDose": None})
    np.testing.assert_allclose(_values(img), 1.5, rtol=1e-6)


def test_gml_with_bsa_suv_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match="SUVType.*'BSA'.*GML"):
        _read(tmp_path, {"Units": "GML", "SUVType": "BSA"})


def test_gml_with_unknown_suv_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match="SUVType.*'XYZ'"):
        _read(tmp_path, {"Units": "GML", "SUVType": "XYZ"})


@pytest.mark.parametrize(("attribute", "value", "message"), [
    ("PatientSize", None, "PatientSize.*missing"),
    ("PatientSex", None, "PatientSex.*missing"),
    ("PatientSex", "X", "PatientSex.*not M, F or O"),
    ("PatientSize", 180.0, "PatientSize.*not a height in metres"),
])
def test_lbm_needs_height_and_sex(tmp_path, attribute, value, message):
    header = {"Units": "GML", "SUVType": "LBMJAMES128", attribute: value}
    with pytest.raises(ValueError, match=message) as info:
        _read(tmp_path, header)
    assert "\n" not in str(info.value)


def test_cm2ml(tmp_path):
    # stored SUVbsa 1.5 cm2/ml; SUVbw = 1.5 * 80000 g / (1.9964210 m2 * 1e4 cm2/m2)
    img = _read(tmp_path, {"Units": "CM2ML", "SUVType": "BSA"})
    np.testing.assert_allclose(_values(img), 1.5 * 80000 / (BSA * 1e4), rtol=1e-6)


def test_cm2ml_contradicting_suv_type(tmp_path):
    with pytest.raises(ValueError, match="SUVType.*contradicts Units CM2ML"):
        _read(tmp_path, {"Units": "CM2ML", "SUVType": "BW"})


def test_philips_suv_scale_factor(tmp_path):
    img = _read(tmp_path, {"Units": "CNTS", "Manufacturer": "Philips"}, slopes=(1.0, 1.0),
                private={(0x7053, 0x0010): ("LO", "Philips PET Private Group"),
                         (0x7053, 0x1000): ("DS", "0.0001")})
    np.testing.assert_allclose(_values(img), 1.5, rtol=1e-6)
    assert "7053,1000" in read_suv_provenance(img)["counts_conversion"]


def test_philips_activity_concentration_scale_factor(tmp_path):
    # 15000 counts x 1/3 = 5000 Bq/ml, then the START rule
    img = _read(tmp_path, {"Units": "CNTS"}, slopes=(1.0, 1.0),
                private={(0x7053, 0x1009): ("DS", "0.333333333333")})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)


def test_philips_zero_suv_factor_falls_back_to_activity_factor(tmp_path):
    img = _read(tmp_path, {"Units": "CNTS"}, slopes=(1.0, 1.0),
                private={(0x7053, 0x1000): ("DS", "0.0"),
                         (0x7053, 0x1009): ("DS", "0.333333333333")})
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)


def test_counts_without_factors_through_frame_duration(tmp_path):
    # 15000 counts / 180 s = 83.33 cps per voxel; dose calibrated (DCAL), voxel
    # 4 * 4 * 4 mm = 0.064 ml: 1302.083 Bq/ml; SUVbw = 1302.083 * 80000 / (4e8 * 0.6591793)
    img = _read(tmp_path, {"Units": "CNTS", "CorrectedImage": ["ATTN", "NORM", "DCAL"]},
                slopes=(1.0, 1.0))
    np.testing.assert_allclose(_values(img), 15000 / 180 / 0.064 / 5000 * SUV_66_MIN,
                               rtol=1e-6)


def test_cps_with_dose_calibration_factor(tmp_path):
    # 1.5 cps per voxel x 2000 (DoseCalibrationFactor) / 0.064 ml = 46875 Bq/ml
    img = _read(tmp_path, {"Units": "CPS", "CorrectedImage": ["ATTN", "NORM"],
                           "DoseCalibrationFactor": 2000.0})
    np.testing.assert_allclose(_values(img), 46875 / 5000 * SUV_66_MIN, rtol=1e-6)


def test_cps_without_attenuation_correction_is_refused(tmp_path):
    with pytest.raises(ValueError, match="CorrectedImage.*ATTN"):
        _read(tmp_path, {"Units": "CPS", "CorrectedImage": ["NORM", "DCAL"]})


def test_cps_without_calibration_is_refused(tmp_path):
    with pytest.raises(ValueError, match="DoseCalibrationFactor.*missing"):
        _read(tmp_path, {"Units": "CPS", "CorrectedImage": ["ATTN", "NORM"]})


@pytest.mark.parametrize("units", ["PROPCNTS", "PROPCPS", "1CM", "MGMINML"])
def test_unconvertible_units_are_refused(tmp_path, units):
    with pytest.raises(ValueError, match=f"Units \\(0054,1001\\) = '{units}' cannot be "):
        _read(tmp_path, {"Units": units})


def test_bqml_without_attenuation_correction_warns(tmp_path):
    with pytest.warns(UserWarning, match="not attenuation corrected"):
        _read(tmp_path, {"Units": "GML", "CorrectedImage": ["NORM", "DECY"]})


@pytest.mark.parametrize(("suv", "size"), [
    ("lbm", LBM_JANMA_M * 1e3), ("lbmjanma", LBM_JANMA_M * 1e3),
    ("lbmjames128", LBM_JAMES_M * 1e3), ("ibw", IBW_M * 1e3), ("bsa", BSA * 1e4),
])
def test_other_normalisations_from_bqml(tmp_path, suv, size):
    # 1.5e4 * 1e-4 * ... : stored 15000 x slope 1/3 = 5000 Bq/ml; SUV = 5000 * size / dose
    img = _read(tmp_path, None, suv=suv, slopes=(1 / 3, 1 / 3))
    np.testing.assert_allclose(_values(img), 5000 * size / (4e8 * 0.6591792918038542),
                               rtol=1e-6)
    record = read_suv_provenance(img)
    assert record["suv"] == suv and record["unit"] == ("cm2/ml" if suv == "bsa" else "g/ml")


def test_bqml_output_from_gml(tmp_path):
    # SUVbw 1.5 with START: 1.5 * (4e8 * 0.6591793) / 80000 Bq/ml
    img = _read(tmp_path, {"Units": "GML"}, suv="bqml")
    np.testing.assert_allclose(_values(img), 1.5 * 4e8 * 0.6591792918038542 / 80000,
                               rtol=1e-6)


def test_bqml_output_of_bqml_needs_no_patient(tmp_path):
    img = _read(tmp_path, {"PatientWeight": None}, suv="bqml", slopes=(1 / 3, 1 / 3))
    np.testing.assert_allclose(_values(img), 5000, rtol=1e-6)


def test_weight_in_grams(tmp_path):
    img = _read(tmp_path, {"PatientWeight": 80000.0}, slopes=(1 / 3, 1 / 3))
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)
    assert read_suv_provenance(img)["weight_unit_in_file"] == "g"


def test_per_slice_rescale_slope(tmp_path):
    stored = np.array([np.full((2, 3), 10000), np.full((2, 3), 5000)], dtype=np.int16)
    img = _read(tmp_path, None, stored=stored, slopes=(0.5, 1.0))
    np.testing.assert_allclose(_values(img), SUV_66_MIN, rtol=1e-6)


def test_unknown_suv_choice():
    with pytest.raises(ValueError, match="suv must be one of"):
        read_pet_dicom(".", suv="sul")
