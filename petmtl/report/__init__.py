"""Validation reports: one self-contained HTML page of the figures and tables papers need.

:func:`build_report` turns the folder of a cross-validation run
(:func:`petmtl.model_selection.cross_validate_cohort`, ``petmtl cv``) or of an evaluation
of a fitted model on a test cohort (:func:`petmtl.model_selection.evaluate_model`,
``petmtl report MODEL MANIFEST``) into ``report.html`` (figures embedded), the figures as
PNG files and ``report.json``, which holds every number on the page.
:mod:`petmtl.report.statistics` holds the statistics (calibration, decision curves,
Kaplan-Meier with numbers at risk, time-dependent AUC, Bland-Altman...), usable on their
own. Drawing needs matplotlib (``pip install petmtl[plots]``).

The module is organised one concern per file: ``statistics`` (the measures), ``_content``
(the report's numbers), ``_figures`` and ``_images`` (charts and patient images),
``_model_card``, ``_checklist`` (TRIPOD+AI), ``_html``, ``_sections`` and
``_card_sections`` (the page) and ``_build`` (the steps and files).
"""

from . import statistics
from ._build import ReportResult, build_report

__all__ = ["ReportResult", "build_report", "statistics"]
