"""Images of patients: coronal MIPs with predicted and reference masks, and Grad-CAM.

Each patient is shown with the network of the fold that held it out (repeat 0), so the
image is what the validation scored. Volumes are shown in RAS+ order, the patient's
right on the viewer's left (radiological convention).
"""

from __future__ import annotations

import numpy as np

from ._figures import new_figure


def fold_model(run, patient: int):
    """The network (repeat 0) that did not see ``patient``, loaded on the CPU."""
    from ..serialization import load

    path = run.model_file("petmtl", 0, run.fold_of(patient))
    if path is None:
        raise FileNotFoundError(f"the run in {run.folder} saved no model for this fold")
    return load(path, device="cpu")


def has_images(run, X) -> bool:
    """Whether the volumes can be shown: file paths in the run, or arrays passed as X."""
    return run.cohort.get("X") is not None or X is not None


def _volume(run, X, i: int) -> np.ndarray | str:
    return run.cohort["X"][i] if run.cohort.get("X") is not None else np.asarray(X[i])


def case_volumes(run, model, i: int, X=None, masks=None) -> dict:
    """PET, reference and predicted masks of patient ``i`` in RAS+ order, with the spacing."""
    source = _volume(run, X, i)
    if not isinstance(source, str):
        reference = None if masks is None or masks[i] is None else np.asarray(masks[i])
        return {"pet": source, "reference": reference,
                "predicted": np.asarray(model.segment(source[None])[0]),
                "spacing": tuple(run.cohort["spacing"])}
    from ..io import Volume, load_mask, load_pet, to_canonical

    pet = load_pet(source)
    predicted = Volume(np.asarray(model.segment([source])[0]), pet.affine)
    mask_path = (run.cohort.get("masks") or [None] * (i + 1))[i]
    reference = None if mask_path is None else to_canonical(load_mask(mask_path)).data
    canonical = to_canonical(pet)
    return {"pet": canonical.data, "reference": reference,
            "predicted": to_canonical(predicted).data, "spacing": canonical.spacing}


def network_input(run, model, i: int, X=None) -> np.ndarray:
    """The window of patient ``i`` that the network reads."""
    source = _volume(run, X, i)
    if not isinstance(source, str):
        return source
    from ..io import prepare_volume

    p = model.get_params()
    return prepare_volume(source, spacing=p["spacing"], shape=p["input_shape"],
                          center=p["crop_center"], interpolation=p["interpolation"])[0]


def _mip(volume: np.ndarray) -> np.ndarray:
    """Coronal maximum intensity projection, rows superior-up, patient's right on the left."""
    return np.asarray(volume, dtype=np.float32).max(axis=1).T[:, ::-1]


def _show_pet(ax, volume, spacing, title: str):
    mip = _mip(volume)
    ax.imshow(mip, cmap="gray_r", origin="lower", vmin=0, vmax=float(np.percentile(mip, 99.5)),
              aspect=spacing[2] / spacing[0])
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def cases_figure(cases: list[dict]):
    """Coronal MIPs with the reference (green) and predicted (red) mask outlines."""
    fig, axes = new_figure(2.6 * len(cases), 3.2, ncols=len(cases))
    for ax, case in zip(np.atleast_1d(axes), cases, strict=True):
        _show_pet(ax, case["pet"], case["spacing"], case["title"])
        for key, color in (("reference", "tab:green"), ("predicted", "tab:red")):
            if case[key] is not None and np.asarray(case[key]).any():
                ax.contour(_mip(case[key]), levels=[0.5], colors=color, linewidths=1,
                           origin="lower")
    return fig


def gradcam_figure(rows: list[dict]):
    """One row per patient: the PET, then its Grad-CAM at every scale over the PET."""
    scales = list(rows[0]["maps"])
    fig, axes = new_figure(1.9 * (len(scales) + 1), 2.3 * len(rows), ncols=len(scales) + 1,
                           nrows=len(rows))
    axes = np.asarray(axes).reshape(len(rows), len(scales) + 1)
    for r, row in enumerate(rows):
        spacing = row["spacing"]
        _show_pet(axes[r, 0], row["volume"], spacing, row["title"])
        for c, name in enumerate(scales, start=1):
            _show_pet(axes[r, c], row["volume"], spacing, name)
            axes[r, c].imshow(_mip(row["maps"][name]), cmap="inferno", alpha=0.55,
                              origin="lower", vmin=0, vmax=1,
                              aspect=spacing[2] / spacing[0])
    return fig


def gradcam_rows(run, patients: list[int], titles: list[str], X=None,
                 target: str = "outcome", clinical=None) -> list[dict]:
    """Grad-CAM of ``target`` at every scale for each patient, by its fold's network
    (given the patient's covariates, from ``clinical``, when the network reads them)."""
    from ..explain import grad_cam
    from ..model_selection._clinical import model_table

    rows = []
    for i, title in zip(patients, titles, strict=True):
        model = fold_model(run, i)
        volume = network_input(run, model, i, X)
        explained = volume[None] if clinical is None else model_table(
            [volume], clinical.iloc[[i]], model.get_params()["image_column"])
        maps = grad_cam(model, explained, target=target, scale="all")
        spacing = (tuple(run.cohort["spacing"]) if run.cohort.get("X") is None
                   else tuple(float(s) for s in np.broadcast_to(
                       np.asarray(model.get_params()["spacing"], dtype=float), (3,))))
        rows.append({"volume": volume, "maps": {k: v[0] for k, v in maps.items()},
                     "spacing": spacing, "title": title})
    return rows
