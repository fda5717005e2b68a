import itertools

import pytest
import torch

from petmtl.network import MultiTaskWNet

# The 15 configurations of the paper's Table 1: (tasks T1/T2/T3, T4 features).
TABLE1 = [
    ((True, False, False), "global"),
    ((True, False, True), "global"),
    *[((True, True, False), f) for f in ("global", "tumor", "both")],
    *[((False, True, False), f) for f in ("global", "tumor", "both")],
    *[((False, True, True), f) for f in ("global", "tumor", "both")],
    ((False, False, True), "tumor"),
    *[((True, True, True), f) for f in ("global", "tumor", "both")],
]


def test_table1_has_fifteen_distinct_configurations():
    assert len(set(TABLE1)) == 15


@pytest.mark.parametrize(("tasks", "features"), TABLE1)
def test_every_table1_configuration_builds_and_backpropagates(tasks, features):
    recon, seg, path = tasks
    net = MultiTaskWNet(2, 3, reconstruction=recon, segmentation=seg,
                        n_pathology_outputs=1 if path else 0, outcome_features=features)
    out = net(torch.randn(2, 1, 16, 16, 16))
    assert ("reconstruction" in out) == recon
    assert ("segmentation" in out) == seg
    assert ("pathology" in out) == path
    assert out["outcome"].shape == (2,)
    sum(v.float().sum() for k, v in out.items()).backward()
    grads = [p.grad for p in net.encoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("shape", [(17, 20, 9), (5, 7, 3), (16, 16, 16), (33, 1, 2)])
def test_spatial_outputs_have_the_input_shape_for_odd_sizes(shape):
    net = MultiTaskWNet(2, 4).eval()
    out = net(torch.randn(1, 1, *shape))
    assert out["reconstruction"].shape == (1, 1, *shape)
    assert out["segmentation"].shape == (1, 1, *shape)


def test_paper_size_encoder_widths_and_decoders_form_a_w():
    net = MultiTaskWNet(64, 5, norm=None)
    assert net.encoder.widths == [64, 128, 256, 512, 1024]
    assert len(net.encoder.levels) == 5
    n_convs = sum(isinstance(m, torch.nn.Conv3d) for m in net.encoder.modules())
    assert n_convs == 10  # "a 10-layers 3D convolutional neural network"
    recon = [p.shape for p in net.reconstruction.parameters()]
    seg = [p.shape for p in net.segmentation.parameters()]
    assert recon == seg  # two decoders of identical structure


def test_tumor_branch_is_gated_by_the_segmentation():
    torch.manual_seed(0)
    net = MultiTaskWNet(2, 2, outcome_features="tumor", dropout=0.0).eval()
    x = torch.randn(1, 1, 8, 8, 8)
    with torch.no_grad():
        net.segmentation.head.bias.fill_(-1e4)  # segmentation says: no tumour anywhere
        blank = net(x)["features"]
        other = net(torch.randn(1, 1, 8, 8, 8))["features"]
    # With an all-zero gate the tumour features do not depend on the image.
    torch.testing.assert_close(blank, other)


@pytest.mark.parametrize(("features", "extra"), itertools.product(["global", "both"], [0]))
def test_multiscale_vector_length(features, extra):
    net = MultiTaskWNet(4, 3, outcome_features=features)
    out = net(torch.randn(2, 1, 8, 8, 8))
    widths = net.encoder.widths
    expected = widths[-1] + 2 * widths[-2] + (2 * 4 if features == "both" else 0) + extra
    assert out["features"].shape == (2, expected)


def test_invalid_configuration_errors_name_the_argument():
    with pytest.raises(ValueError, match="depth"):
        MultiTaskWNet(2, 1)
    with pytest.raises(ValueError, match="outcome_features"):
        MultiTaskWNet(2, 2, outcome_features="radiomics")
    with pytest.raises(ValueError, match=r"\(n, 1, D, H, W\)"):
        MultiTaskWNet(2, 2)(torch.randn(1, 8, 8, 8))


def test_segmentation_starts_near_the_tumour_prior():
    """Regression: starting at p=0.5 everywhere stalled segmentation trained without T1."""
    torch.manual_seed(0)
    net = MultiTaskWNet(4, 3, reconstruction=False).eval()
    with torch.no_grad():
        p = torch.sigmoid(net(torch.randn(2, 1, 16, 16, 16))["segmentation"])
    assert p.mean().item() < 0.05
