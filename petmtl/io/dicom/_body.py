"""Body-size normalisations of SUV: lean body mass, ideal body weight, body surface area.

Formulas as the SUV manual (Vacha et al. 2026, after Sugawara et al.) gives them; W is the
weight in kg and H the height in cm. For PatientSex ``O`` the mean of the male and female
values is used, as the manual proposes.
"""

from __future__ import annotations


def _by_sex(male: float, female: float, sex: str) -> float:
    if sex == "M":
        return male
    if sex == "F":
        return female
    if sex == "O":
        return (male + female) / 2.0
    raise ValueError(f"sex must be 'M', 'F' or 'O', got {sex!r}")


def lbm_morgan(weight_kg: float, height_cm: float, sex: str) -> float:
    """Lean body mass (kg), DICOM SUVType ``LBM``: 1.10 W - 120 (W/H)^2, female 1.07 W - 148
    (W/H)^2."""
    ratio2 = (weight_kg / height_cm) ** 2
    return _by_sex(1.10 * weight_kg - 120.0 * ratio2, 1.07 * weight_kg - 148.0 * ratio2, sex)


def lbm_james128(weight_kg: float, height_cm: float, sex: str) -> float:
    """Lean body mass (kg) of James, SUVType ``LBMJAMES128``: 1.10 W - 128 (W/H)^2, female
    1.07 W - 148 (W/H)^2."""
    ratio2 = (weight_kg / height_cm) ** 2
    return _by_sex(1.10 * weight_kg - 128.0 * ratio2, 1.07 * weight_kg - 148.0 * ratio2, sex)


def lbm_janmahasatian(weight_kg: float, height_cm: float, sex: str) -> float:
    """Lean body mass (kg) of Janmahasatian, SUVType ``LBMJANMA``: 9270 W / (6680 + 216 BMI),
    female 9270 W / (8780 + 244 BMI), BMI in kg/m^2."""
    bmi = weight_kg / (height_cm / 100.0) ** 2
    return _by_sex(9270.0 * weight_kg / (6680.0 + 216.0 * bmi),
                   9270.0 * weight_kg / (8780.0 + 244.0 * bmi), sex)


def ideal_body_weight(weight_kg: float, height_cm: float, sex: str) -> float:
    """Ideal body weight (kg), SUVType ``IBW``: 48.0 + 1.06 (H - 152), female 45.5 + 0.91
    (H - 152). ``weight_kg`` is not used."""
    return _by_sex(48.0 + 1.06 * (height_cm - 152.0), 45.5 + 0.91 * (height_cm - 152.0), sex)


def bsa_dubois(weight_kg: float, height_cm: float, sex: str) -> float:
    """Body surface area (m^2) of Du Bois, SUVType ``BSA``: 0.007184 H^0.725 W^0.425.
    ``sex`` is not used."""
    return 0.007184 * height_cm ** 0.725 * weight_kg ** 0.425


# SUVType -> (formula, unit of its value, factor to the SUV's mass/area unit (g or cm^2))
FORMULAS = {
    "LBM": (lbm_morgan, "kg", 1e3),
    "LBMJAMES128": (lbm_james128, "kg", 1e3),
    "LBMJANMA": (lbm_janmahasatian, "kg", 1e3),
    "IBW": (ideal_body_weight, "kg", 1e3),
    "BSA": (bsa_dubois, "m2", 1e4),
}
