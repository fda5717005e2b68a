"""Cross-validation of a cohort: out-of-fold predictions, pooled metrics and baselines.

:func:`cross_validate_cohort` runs the protocol that a validation study reports:
stratified (or grouped) folds repeated with different seeds, every model on the same
folds, every head's out-of-fold prediction written per patient, pooled metrics with
bootstrap intervals and paired differences to each baseline, resumable after a kill.
``petmtl cv`` is the same on a manifest, and ``petmtl report`` turns its folder into a
validation report (:mod:`petmtl.report`).

Examples
--------
>>> from petmtl import MultiTaskPETEstimator  # doctest: +SKIP
>>> from petmtl.model_selection import cross_validate_cohort  # doctest: +SKIP
>>> result = cross_validate_cohort(MultiTaskPETEstimator(), cohort.X, cohort.y,
...                                masks=cohort.masks, pathology=cohort.pathology,
...                                compare=["radiomics"], out_dir="cv")  # doctest: +SKIP
>>> result.metrics["models"]["petmtl"]["auc"]["mean"]  # doctest: +SKIP
"""

from ._candidates import BASELINES, Candidate, FoldTask, register_baseline
from ._cv import CVResult, cross_validate_cohort
from ._results import CVRun, evaluate_model, read_cv_results
from ._segmentation import hausdorff_distance

__all__ = ["BASELINES", "CVResult", "CVRun", "Candidate", "FoldTask", "cross_validate_cohort",
           "evaluate_model", "hausdorff_distance", "read_cv_results", "register_baseline"]
