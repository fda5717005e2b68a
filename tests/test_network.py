import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from petmtl.network import MultiTaskWNet
from petmtl.network.blocks import box_max

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


def test_the_fifteen_table1_configurations_build_fifteen_different_networks():
    shapes = set()
    for (recon, seg, path), features in TABLE1:
        net = MultiTaskWNet(2, 3, reconstruction=recon, segmentation=seg,
                            n_pathology_outputs=1 if path else 0, outcome_features=features)
        shapes.add(frozenset((name, tuple(p.shape)) for name, p in net.state_dict().items()))
    assert len(shapes) == 15  # no option is silently ignored


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


# Base width 4, depth 3: encoder levels of 4, 8 and 16 maps. T4 pools the bottleneck (16),
# the encoder level above it (8) and the first decoder level (8), or without a decoder the
# first encoder level (4); the tumour CNN ends with 8 maps.
FEATURE_LENGTHS = {
    ("global", "both"): 32, ("global", "segmentation"): 32,
    ("global", "reconstruction"): 32, ("global", "none"): 28,
    ("both", "both"): 40, ("both", "segmentation"): 40, ("both", "none"): 36,
    ("tumor", "both"): 8, ("tumor", "segmentation"): 8, ("tumor", "none"): 8,
}


@pytest.mark.parametrize(("features", "decoders"), sorted(FEATURE_LENGTHS))
def test_multiscale_vector_length(features, decoders):
    net = MultiTaskWNet(4, 3, outcome_features=features,
                        segmentation=decoders in ("both", "segmentation"),
                        reconstruction=decoders in ("both", "reconstruction"))
    out = net(torch.randn(2, 1, 8, 8, 8))
    assert out["features"].shape == (2, FEATURE_LENGTHS[features, decoders])


def test_pooled_features_average_over_the_real_extent_not_the_padding():
    """Regression: zero padding to a multiple of 2**(depth-1) entered the T3/T4 features."""
    torch.manual_seed(0)
    net = MultiTaskWNet(2, 4, dropout=0.0).eval()  # pads sides to a multiple of 8
    x = torch.randn(1, 1, 18, 18, 18) + 1.0
    padded = torch.nn.functional.pad(x, [0, 6, 0, 6, 0, 6])  # what the network pads to
    with torch.no_grad():
        out = net(x, return_intermediates=True)
        out_padded = net(padded)
        bottleneck = out["encoder"][-1][..., :3, :3, :3]  # ceil(18 / 8) = 3 real voxels
    tumour, width = 2 * 2, net.encoder.widths[-1]  # tumour features first, then the scales
    torch.testing.assert_close(out["features"][:, tumour:tumour + width],
                               bottleneck.mean(dim=(2, 3, 4)))
    assert not torch.allclose(out["features"], out_padded["features"])
    assert not torch.allclose(out["outcome"], out_padded["outcome"])


def test_outputs_runs_only_what_is_asked_and_gives_the_same_values():
    torch.manual_seed(0)
    net = MultiTaskWNet(2, 3, n_pathology_outputs=3).eval()
    x = torch.randn(2, 1, 16, 16, 16)
    calls = []
    net.reconstruction.register_forward_hook(lambda *a: calls.append("reconstruction"))
    net.outcome.register_forward_hook(lambda *a: calls.append("outcome"))
    with torch.no_grad():
        full = net(x)
        calls.clear()
        seg = net(x, outputs=("segmentation",))
        assert set(seg) == {"segmentation"} and calls == []
        outcome = net(x, outputs=("outcome",))
    torch.testing.assert_close(seg["segmentation"], full["segmentation"])
    torch.testing.assert_close(outcome["outcome"], full["outcome"])
    assert "reconstruction" not in calls  # the outcome needs T2's levels, not T1's
    with pytest.raises(ValueError, match="not computed by this network"):
        MultiTaskWNet(2, 2, reconstruction=False)(x, outputs=("reconstruction",))


def test_invalid_configuration_errors_name_the_argument():
    with pytest.raises(ValueError, match="depth"):
        MultiTaskWNet(2, 1)
    with pytest.raises(ValueError, match="outcome_features"):
        MultiTaskWNet(2, 2, outcome_features="radiomics")
    with pytest.raises(ValueError, match=r"\(n, 1, x, y, z\)"):
        MultiTaskWNet(2, 2)(torch.randn(1, 8, 8, 8))


@pytest.mark.parametrize("prior", [0.2, None])
def test_segmentation_prior_switch(prior):
    torch.manual_seed(0)
    net = MultiTaskWNet(4, 3, reconstruction=False, segmentation_prior=prior)
    bias = net.segmentation.head.bias.item()
    if prior is None:  # PyTorch's default initialisation: a small uniform bias, as the paper's
        assert abs(bias) < 1.0
    else:
        assert bias == pytest.approx(math.log(prior / (1 - prior)))


def test_segmentation_starts_near_the_tumour_prior():
    """Regression: starting at p=0.5 everywhere stalled segmentation trained without T1."""
    torch.manual_seed(0)
    net = MultiTaskWNet(4, 3, reconstruction=False).eval()
    with torch.no_grad():
        p = torch.sigmoid(net(torch.randn(2, 1, 16, 16, 16))["segmentation"])
    assert p.mean().item() < 0.05


def test_descriptors_of_volumes_smaller_than_their_kernels():
    """Regression: the 10 mm peak and 20 mm ring kernels exceeded a 1 x 2 x 1 volume."""
    from petmtl.network.descriptors import PETDescriptors

    descriptors = PETDescriptors(voxel_size=(2.0, 2.0, 2.0))
    suv = torch.rand(2, 1, 1, 2, 1)
    values = descriptors(suv, torch.rand(2, 1, 1, 2, 1))
    assert values.shape == (2, descriptors.n_features)
    assert torch.isfinite(values).all()
    # the peak of a one-voxel-wide volume is the average over what exists of 10 mm
    assert torch.allclose(descriptors(suv[:, :, :, :1], torch.ones(2, 1, 1, 1, 1))[:, 3],
                          suv[:, 0, 0, 0, 0])


def test_avg_max_pooling_adds_the_maximum_of_each_pooled_map():
    torch.manual_seed(0)
    x = torch.randn(2, 1, 8, 8, 8)
    avg = MultiTaskWNet(4, 3, outcome_features="global", global_pooling="avg").eval()
    both = MultiTaskWNet(4, 3, outcome_features="global", global_pooling="avg_max").eval()
    for part in ("encoder", "segmentation", "reconstruction"):  # the same maps to pool
        getattr(both, part).load_state_dict(getattr(avg, part).state_dict())
    with torch.no_grad():
        plain, wide = avg(x)["features"], both(x)["features"]
    assert wide.shape == (2, 64)  # 32 averages (see FEATURE_LENGTHS) and 32 maxima
    # each scale contributes its averages then its maxima: 16 + 16, 8 + 8, 8 + 8
    averages = torch.cat([wide[:, 0:16], wide[:, 32:40], wide[:, 48:56]], dim=1)
    maxima = torch.cat([wide[:, 16:32], wide[:, 40:48], wide[:, 56:64]], dim=1)
    torch.testing.assert_close(averages, plain)
    assert torch.all(maxima >= averages - 1e-6)


def _fixed_tumour(net, inside):
    """Make the segmentation decoder predict the tumour ``inside`` (a boolean (x, y, z))."""
    original = net.segmentation.forward

    def forward(encoded):
        logits, levels = original(encoded)
        fixed = torch.full_like(logits, -30.0)
        fixed[:, :, :inside.shape[0], :inside.shape[1], :inside.shape[2]][
            :, :, torch.as_tensor(inside)] = 30.0
        return fixed, levels

    net.segmentation.forward = forward


@pytest.mark.parametrize("ring_mm, ring_matters", [(0.0, False), (4.0, True)])
def test_peritumoral_ring_reaches_the_tumour_branch_only_when_asked(ring_mm, ring_matters):
    torch.manual_seed(0)
    net = MultiTaskWNet(4, 3, outcome_features="tumor", dropout=0.0, voxel_size=(2, 2, 2),
                        peritumoral_mm=ring_mm).eval()
    tumour = np.zeros((16, 16, 16), bool)
    tumour[6:10, 6:10, 6:10] = True
    _fixed_tumour(net, tumour)
    ring = np.zeros_like(tumour)
    ring[4:12, 4:12, 4:12] = True  # 2 voxels (4 mm) around the tumour
    ring &= ~tumour
    far = np.zeros_like(tumour)
    far[0:2, 0:2, 0:2] = True  # beyond the ring
    x = torch.rand(1, 1, 16, 16, 16)
    with torch.no_grad():
        base = net(x)["features"]
        in_ring, far_away = x.clone(), x.clone()
        in_ring[0, 0][torch.as_tensor(ring)] += 5.0
        far_away[0, 0][torch.as_tensor(far)] += 5.0
        ring_changed = not torch.allclose(net(in_ring)["features"], base)
        far_changed = not torch.allclose(net(far_away)["features"], base)
    assert ring_changed == ring_matters
    assert not far_changed


def test_lesion_burden_descriptors_count_the_lesions_beside_the_predicted_tumour():
    from petmtl.network.descriptors import BURDEN, PETDescriptors

    suv = torch.full((1, 1, 24, 24, 24), 0.5)
    suv[0, 0, 2:6, 2:6, 2:6] = 8.0      # the primary (predicted below)
    suv[0, 0, 14:17, 2:5, 2:5] = 5.0    # a node 48 mm away
    suv[0, 0, 2:4, 18:20, 18:20] = 4.0  # a smaller, cooler one
    tumour = torch.zeros_like(suv)
    tumour[0, 0, 2:6, 2:6, 2:6] = 0.9
    descriptors = PETDescriptors((4.0, 4.0, 4.0), lesion_burden="suv2.5")
    values = descriptors(suv, tumour)[0, -len(BURDEN):].double().numpy()
    named = dict(zip(BURDEN, values, strict=True))
    assert named["burden_log_n_lesions"] == pytest.approx(np.log1p(3))
    # TMTV: 64 + 27 + 8 voxels of 0.064 ml; the hottest non-primary lesion: 27 voxels, SUV 5
    assert named["burden_log_tmtv_ml"] == pytest.approx(np.log1p(99 * 0.064), rel=1e-6)
    assert named["burden_log_hottest_suvmax"] == pytest.approx(np.log1p(5.0), rel=1e-6)
    assert named["burden_log_hottest_ml"] == pytest.approx(np.log1p(27 * 0.064), rel=1e-6)
    # centroids (mm, voxel index x 4): primary (14, 14, 14), node (60, 12, 12)
    assert named["burden_log_nearest_mm"] == pytest.approx(
        np.log1p(np.linalg.norm([46.0, 2.0, 2.0])), rel=1e-6)
    assert named["burden_has_nonprimary"] == 1.0
    net = MultiTaskWNet(2, 2, descriptors=True, lesion_burden="suv4.0", voxel_size=(4, 4, 4))
    assert net.descriptors.n_features == PETDescriptors((4, 4, 4)).n_features + len(BURDEN)


@pytest.mark.parametrize("size", [(11, 11, 11), (1, 5, 3), (7, 1, 1), (1, 1, 1)])
def test_box_max_is_the_three_dimensional_max_pool(size):
    """The tumour ring and the peritumoral channel dilate by separable 1-D pools."""
    volumes = torch.rand(2, 3, 13, 9, 16, generator=torch.Generator().manual_seed(0))
    padding = [k // 2 for k in size]
    reference = volumes.clone().requires_grad_(True)
    expected = F.max_pool3d(reference, size, stride=1, padding=padding)
    separable = volumes.clone().requires_grad_(True)
    result = box_max(separable, size)
    assert torch.equal(result, expected)
    weights = torch.rand(expected.shape, generator=torch.Generator().manual_seed(1))
    (expected * weights).sum().backward()
    (result * weights).sum().backward()
    torch.testing.assert_close(separable.grad, reference.grad, rtol=1e-6, atol=1e-6)
