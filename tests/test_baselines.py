"""The radiomics baselines: features, logistic regression and the linear Cox model."""

import numpy as np
import pytest
from sklearn.model_selection import KFold, cross_val_score

from petmtl.baselines import CoxRegression, radiomic_features, radiomics_cox
from petmtl.metrics import concordance_index_censored
from petmtl.pet import suv_stats
from petmtl.survival import make_survival_y


def test_radiomic_features_are_the_suv_statistics_of_the_mask():
    rng = np.random.default_rng(0)
    volume = rng.uniform(0, 5, (8, 8, 8))
    mask = np.zeros(volume.shape, bool)
    mask[2:5, 2:5, 2:5] = True
    row = radiomic_features([volume, volume], [mask, None], spacing=4.0)
    stats = suv_stats(volume, mask, 4.0)
    np.testing.assert_allclose(row[0], [stats[k] for k in ("SUVmax", "SUVmean", "MTV_ml",
                                                           "TLG")])
    assert np.isnan(row[1]).all()


def _cox_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    time = rng.exponential(np.exp(-(1.0 * X[:, 0] - 0.5 * X[:, 1])))
    censor = rng.exponential(2.0, n)
    return X, make_survival_y(time <= censor, np.minimum(time, censor))


def test_cox_regression_recovers_the_log_hazard_ratios():
    X, y = _cox_data(n=2000)
    model = CoxRegression(alpha=0.0).fit(X, y)
    np.testing.assert_allclose(model.coef_, [1.0, -0.5], atol=0.1)
    assert model.score(X, y) == pytest.approx(concordance_index_censored(
        y["event"], y["time"], model.predict(X))[0])
    shrunk = CoxRegression(alpha=10.0).fit(X, y)
    assert np.all(np.abs(shrunk.coef_) < np.abs(model.coef_))


def test_cox_pipeline_cross_validates_to_c_indices():
    X, y = _cox_data()
    scores = cross_val_score(radiomics_cox(), np.exp(X), y, cv=KFold(3, shuffle=True,
                                                                      random_state=0))
    assert scores.shape == (3,) and np.all(scores > 0.6)
    with pytest.raises(ValueError, match="alpha"):
        CoxRegression(alpha=-1).fit(X, y)
