"""The folder of a cross-validation run: its settings, one file per fold, resuming.

Layout of ``out_dir``::

    cv.json                     settings, data digests, patients and folds of the run
    folds/<model>/r<R>-f<K>.json   per-patient predictions of one (model, repeat, fold)
    models/<model>/r<R>-f<K>.pt    the fitted network of that fold (petmtl model file)
    <baseline>_inputs.csv       inputs a baseline computed once (e.g. radiomics features)
    predictions.csv             every out-of-fold prediction, one row per patient, model
                                and repeat
    metrics.json                pooled metrics, bootstrap intervals, paired differences
"""

from __future__ import annotations

import hashlib
import json
import os

from ._files import read_json, write_json

FORMAT = 1


class RunFolder:
    """The files of one run in ``out_dir``.

    Parameters
    ----------
    out_dir : str or path-like
    """

    def __init__(self, out_dir):
        self.root = os.path.abspath(os.fspath(out_dir))

    @property
    def settings_path(self) -> str:
        """``cv.json``."""
        return os.path.join(self.root, "cv.json")

    def path(self, *parts: str) -> str:
        """A path inside the folder."""
        return os.path.join(self.root, *parts)

    def fold_path(self, model: str, repeat: int, fold: int) -> str:
        """The result file of one (model, repeat, fold)."""
        return self.path("folds", model, f"r{repeat}-f{fold}.json")

    def model_path(self, model: str, repeat: int, fold: int) -> str:
        """The model file of one (model, repeat, fold)."""
        return self.path("models", model, f"r{repeat}-f{fold}.pt")

    def read_settings(self) -> dict:
        """The run's ``cv.json``."""
        if not os.path.isfile(self.settings_path):
            raise FileNotFoundError(f"{self.root} is not a petmtl cross-validation folder "
                                    "(no cv.json)")
        return read_json(self.settings_path)

    def open(self, run: dict) -> bool:
        """Start the run in this folder, or check that it continues the one there.

        Returns
        -------
        bool
            True when the folder already held this run (a resume).

        Raises
        ------
        ValueError
            If the folder holds a run with other settings or data, or files that are not
            a run.
        """
        if os.path.isfile(self.settings_path):
            previous = read_json(self.settings_path)
            differences = _differences(previous, run)
            if differences:
                raise ValueError(
                    f"out_dir {self.root} holds a cross-validation run with other "
                    f"settings or data ({'; '.join(differences[:4])}); choose another "
                    "out_dir, or delete this one to start again")
            return True
        if os.path.isdir(self.root) and os.listdir(self.root):
            raise ValueError(f"out_dir {self.root} is not empty and holds no petmtl "
                             "cross-validation run (no cv.json); choose an empty or new folder")
        os.makedirs(self.root, exist_ok=True)
        write_json(self.settings_path, run)
        return False

    def read_fold(self, model: str, repeat: int, fold: int, key: str) -> dict | None:
        """The finished result of a fold, or None when it is still to run."""
        path = self.fold_path(model, repeat, fold)
        if not os.path.isfile(path):
            return None
        try:
            result = read_json(path)
        except (OSError, ValueError):
            return None
        return result if result.get("key") == key else None


def run_key(run: dict, model: str, repeat: int, fold: int) -> str:
    """Key of a fold's result: the run's settings and data, the model, repeat and fold."""
    blob = json.dumps([run["settings"], run["cohort"]["fingerprint"], model, repeat, fold],
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _differences(previous: dict, run: dict) -> list[str]:
    if previous.get("format") != FORMAT:
        return [f"folder format {previous.get('format')!r}, this petmtl writes {FORMAT}"]
    out = []
    old, new = _flat(previous.get("settings", {})), _flat(run["settings"])
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            out.append(f"{name}: {_short(old.get(name))} in the folder, {_short(new.get(name))} "
                       "now")
    old_data = previous.get("cohort", {}).get("fingerprint", {})
    for name, value in run["cohort"]["fingerprint"].items():
        if old_data.get(name) != value:
            out.append(f"the data differ ({name})")
    return out


def _flat(settings: dict) -> dict:
    """Settings with the estimator's parameters as ``params.<name>`` entries."""
    out = {k: v for k, v in settings.items() if k != "params"}
    out.update({f"params.{k}": v for k, v in settings.get("params", {}).items()})
    return out


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."
