"""The report's charts, drawn with matplotlib's object API (no pyplot, no global state)."""

from __future__ import annotations

import io

import numpy as np

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
DPI = 90


def require_matplotlib():
    """matplotlib's ``Figure`` class, or an ImportError naming the extra to install."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("petmtl report draws its figures with matplotlib, which is not "
                          "installed; install it with: pip install petmtl[plots]") from None
    return Figure


def new_figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    """A figure and its axes (an array when there are several)."""
    fig = require_matplotlib()(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel() if axes.size > 1 else axes[0, 0]


def to_png(fig) -> bytes:
    """The figure as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def roc(section: dict):
    """ROC of the model with its bootstrap band, and the baselines' ROC curves."""
    fig, ax = new_figure(4.6, 4.2)
    main = section["models"]["petmtl"]
    band = main["roc"]
    ax.fill_between(band["fpr"], band["low"], band["high"], color=COLORS[0], alpha=0.2,
                    label="petmtl, 95 % bootstrap band")
    ax.plot(band["fpr"], band["tpr"], color=COLORS[0], label=f"petmtl (AUC {main['auc']:.3f})")
    for k, (name, entry) in enumerate(section["models"].items()):
        if name == "petmtl":
            continue
        curve = entry["roc_curve"]
        ax.plot(curve["fpr"], curve["tpr"], color=COLORS[(k) % len(COLORS)], lw=1,
                label=f"{name} (AUC {entry['auc']:.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1),
           ylim=(0, 1.01), title="ROC, out-of-fold")
    ax.legend(loc="lower right", fontsize=7)
    return fig


def reliability(section: dict):
    """Reliability curve with Wilson intervals."""
    fig, ax = new_figure(4.6, 4.2)
    r = section["reliability"]
    pred, obs = np.asarray(r["predicted"]), np.asarray(r["observed"])
    ax.errorbar(pred, obs, yerr=[obs - np.asarray(r["low"]), np.asarray(r["high"]) - obs],
                fmt="o-", color=COLORS[0], capsize=3, label="petmtl (95 % Wilson intervals)")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfect calibration")
    ax.set(xlabel="mean predicted probability", ylabel="observed frequency", xlim=(0, 1),
           ylim=(0, 1), title="Calibration")
    ax.legend(loc="upper left", fontsize=7)
    return fig


def decision(section: dict, survival: bool):
    """Net benefit of every model against treating everyone and no one."""
    fig, ax = new_figure(5.2, 4.0)
    first = next(iter(section["models"].values()))["decision"]
    pt = np.asarray(first["thresholds"])
    treat_all = np.asarray(first["treat_all"])
    top = 0.0
    for k, (name, entry) in enumerate(section["models"].items()):
        nb = np.asarray(entry["decision"]["model"])
        ax.plot(pt, nb, color=COLORS[k % len(COLORS)], label=name)
        top = max(top, float(nb.max()))
    ax.plot(pt, treat_all, color="black", lw=1, label="treat all")
    ax.axhline(0.0, color="grey", ls="--", lw=1, label="treat none")
    top = max(top, float(treat_all.max()), 0.05)
    ax.set(xlabel="threshold probability", ylabel="net benefit", ylim=(-0.1 * top, 1.15 * top),
           xlim=(0, 1), title="Decision curve" + (
               f" at t = {section['decision_horizon']:g}" if survival else ""))
    ax.legend(fontsize=7)
    return fig


def td_auc(section: dict):
    """Time-dependent AUC of every model."""
    fig, ax = new_figure(5.2, 3.8)
    for k, (name, entry) in enumerate(section["models"].items()):
        ax.plot(entry["td_auc"]["times"], entry["td_auc"]["auc"], "o-",
                color=COLORS[k % len(COLORS)], label=name)
    ax.axhline(0.5, color="grey", ls=":")
    ax.set(xlabel="time", ylabel="cumulative/dynamic AUC", ylim=(0, 1),
           title="Time-dependent AUC")
    ax.legend(fontsize=7)
    return fig


def survival_calibration(section: dict):
    """Predicted against Kaplan-Meier survival at each horizon, by predicted-risk group."""
    entries = section["models"]["petmtl"]["calibration"]
    fig, axes = new_figure(3.2 * len(entries), 3.4, ncols=len(entries))
    axes = np.atleast_1d(axes)
    for ax, c in zip(axes, entries, strict=True):
        pred, obs = np.asarray(c["predicted"]), np.asarray(c["observed"])
        ax.errorbar(pred, obs, yerr=[np.maximum(obs - np.asarray(c["low"]), 0),
                                     np.maximum(np.asarray(c["high"]) - obs, 0)],
                    fmt="o", color=COLORS[0], capsize=3)
        ax.plot([0, 1], [0, 1], ls=":", color="grey")
        ax.set(xlim=(0, 1), ylim=(0, 1), title=f"t = {c['horizon']:g}",
               xlabel="predicted survival", ylabel="Kaplan-Meier survival")
    return fig


def _step(ax, curve: dict, color, label):
    ax.step(curve["time"], curve["survival"], where="post", color=color, label=label)
    ax.fill_between(curve["time"], curve["low"], curve["high"], step="post", color=color,
                    alpha=0.15)


def risk_groups(section: dict):
    """Kaplan-Meier curves of predicted-risk halves and tertiles with numbers at risk."""
    fig, axes = new_figure(9.5, 4.4, ncols=2)
    names = {"halves": ("low risk", "high risk"),
             "tertiles": ("low risk", "middle risk", "high risk")}
    for ax, (key, labels) in zip(axes, names.items(), strict=True):
        groups = section["risk_groups"][key]
        for k, (curve, label) in enumerate(zip(groups["groups"], labels, strict=True)):
            _step(ax, curve, COLORS[k], f"{label} (n = {curve['n']})")
        ax.set(ylim=(0, 1.02), xlabel="time", ylabel="survival",
               title=f"Predicted-risk {key}, log-rank p = {groups['logrank_p']:.3g}")
        ax.legend(fontsize=7, loc="lower left")
        at = groups["at"]
        ax.set_xticks(at)
        for k, curve in enumerate(groups["groups"]):
            for t, n in zip(at, curve["n_at_risk_table"], strict=True):
                ax.annotate(str(n), (t, 0), xytext=(0, -34 - 10 * k), textcoords="offset points",
                            ha="center", fontsize=7, color=COLORS[k], annotation_clip=False)
        ax.annotate("at risk", (0, 0), xytext=(-30, -24), textcoords="offset points",
                    fontsize=7, annotation_clip=False)
    return fig


def segmentation(section: dict):
    """Distributions of Dice and HD95, and the Bland-Altman plot of the MTV."""
    fig, axes = new_figure(10.0, 3.6, ncols=3)
    for ax, key, label in ((axes[0], "dice", "Dice"), (axes[1], "hd95", "HD95 (mm)")):
        values = np.asarray(section[key])
        if len(values):
            ax.boxplot(values, widths=0.5)
            jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(values))
            ax.plot(1 + jitter, values, "o", ms=3, alpha=0.6, color=COLORS[0])
        ax.set(ylabel=label, xticks=[], title=label)
    ax = axes[2]
    ba = section["bland_altman"]
    if ba is not None:
        ax.plot(ba["mean"], ba["difference"], "o", ms=3, color=COLORS[0])
        for value, style in ((ba["bias"], "-"), (ba["lower"], "--"), (ba["upper"], "--")):
            ax.axhline(value, color="grey", ls=style, lw=1)
    ax.set(xlabel="mean MTV (ml)", ylabel="predicted - reference MTV (ml)",
           title="Bland-Altman, MTV")
    return fig


def history(folds: list[dict]):
    """Training and validation loss per epoch of each fold's network (first repeat)."""
    fig, ax = new_figure(5.2, 3.6)
    for k, fold in enumerate(folds):
        rows = fold.get("history") or []
        epochs = [r["epoch"] for r in rows]
        color = COLORS[k % len(COLORS)]
        ax.plot(epochs, [r.get("train_loss") for r in rows], color=color, lw=1, marker=".",
                label=f"fold {k} train")
        if rows and "valid_loss" in rows[0]:
            ax.plot(epochs, [r.get("valid_loss") for r in rows], color=color, ls="--", lw=1,
                    marker=".", label=f"fold {k} validation")
    ax.set(xlabel="epoch", ylabel="total loss", title="Training history (repeat 0)")
    ax.legend(fontsize=6, ncols=2)
    return fig
