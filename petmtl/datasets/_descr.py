"""The description (``DESCR``) of the cohorts of :func:`make_pet_cohort`."""

DESCR = """\
Synthetic thoracic FDG-PET cohort (petmtl.datasets.make_pet_cohort)
===================================================================

Each subject is a float32 volume in SUV (g/ml) with isotropic voxels, in NIfTI voxel order
after canonicalisation to RAS+: axis 0 = x (patient's left to right), axis 1 = y (posterior
to anterior), axis 2 = z (inferior to superior), as returned by petmtl.io.prepare_volume.

Anatomy: elliptic body (soft tissue SUV 0.5-0.8) filling the transverse field of view
(capped at adult size), two lungs (SUV 0.2-0.4) whose lower caps are the diaphragm domes,
mediastinal blood pool, descending aorta and cardiac cavities (SUV ~1.4-1.9, always below
0.85 x liver), myocardium (SUV 1.2-8, log-uniform), liver under the right dome
(SUV 2.2 x exp(0.1 N)), vertebral bodies (marrow SUV 1.7 x exp(0.18 N)), trachea (air)
and oesophagus (SUV 1.0-1.8) behind it.

Tumour: pathology "lung" (centre inside a lung) or "esophagus" (on the oesophageal axis,
elongated along z) with probability 1/2 each. Equivalent radius 8 mm x exp(0.3 N) in
[4, 20] mm, an ellipsoid plus 1-3 ellipsoidal lobes, uptake 10 x exp(0.35 N) SUV in
[4, 35] modulated by a smooth random texture of relative amplitude U(0.05, 0.45)
(heterogeneity) and, more often in large tumours, a necrotic core.
Peritumoral (within 2-3 cm): an inflammatory halo adding U(0, 1.5) x exp(-d / 6 mm) SUV at
distance d <= 20 mm from the tumour, and Poisson(1) satellite nodules 10-20 mm beyond it.
Global: Poisson(1.2) lymph-node hot spots (mediastinal, hilar, axillary, supraclavicular,
coeliac) at least 30 mm beyond the tumour, marrow and liver uptake.

PET physics: noise with variance image_noise**2 x SUV (before the PSF, rescaled so this
holds after it), Gaussian PSF (FWHM fwhm mm), values clipped at 0.

Mask: 40 % of the tumour SUVmax inside the tumour support dilated by max(fwhm, 2 voxels),
excluding myocardium, liver and marrow, kept to the connected component of the SUVmax.

Outcome (1 = poor outcome): every feature f_j is mapped to a unit-variance score s_j
(log for volume, uptake, marrow and liver; centred counts; uniform -> z) and
eta = sum_j beta_j s_j / ||beta|| with beta = 0.40 volume, 0.30 uptake, 0.30 heterogeneity,
0 necrosis, 0.50 peritumoral uptake, 0.40 satellites, 0.40 marrow, 0.25 liver, 0.45 nodes.
P(y = 1) = 1 / (1 + exp(-eta / outcome_noise)) (y = [eta > 0] when outcome_noise = 0), so
classes are balanced on average. With outcome_noise = 0.4 the AUC of eta is ~0.90, of its
tumour part alone ~0.70 and of tumour + peritumoral parts ~0.80.
"""

CLINICAL_DESCR = """
Clinical covariates (clinical=True), drawn from their own random stream, so the images,
masks and outcome noise are those of clinical=False:
age (years, N(65, 9) rounded, in [35, 90]); sex (60 % male, no effect on the outcome);
ECOG performance status 0-3 (40/35/18/7 %), the ordinal cut of a latent frailty correlated
0.5 with age; T stage T1-T4 (25 % each), the quartiles of a latent correlated 0.8 with the
tumour-volume score, so it is shared with the image and carries nothing beyond it; marker,
a binary tumour marker (HPV-like; 35 % positive, protective), independent of the image.
The clinical logit is eta_c = (0.40 z_age + 0.60 z_ecog - 0.70 z_marker) / sd, with the
z's standardised by their population moments and sd making eta_c unit-variance; the
outcome logit becomes eta = sqrt(0.6) eta_image + sqrt(0.4) eta_c (still unit-variance),
so 40 % of its variance is visible only through age, ECOG and the marker.
Missing values (NaN), missing at random given the observed covariates: ECOG for 15 % of
T1-T2 and 5 % of T3-T4 patients (about 10 %; early disease seen without an oncology
consultation), the marker for about 30 %, more often in older patients (log-odds +0.8 per
SD of age: testing is less often requested for them). Age, sex and T stage are complete.
With outcome_noise = 0.4 the AUC of eta is ~0.90, of eta_image alone ~0.80 and of
eta_c alone ~0.74.
"""
