"""PreprocessedCache: prepare_volume results stored on disk and shared between processes."""

import multiprocessing as mp
import os
import pickle
import shutil
import time
import warnings

import nibabel as nib
import numpy as np
import pytest
import torch

import petmtl.io._geometry as geometry
from petmtl.io import NiftiVolumeDataset, PreprocessedCache, collate_volumes, prepare_volume

from .conftest import SHARED_DATA

LPS = np.diag([-4.0, -4.0, 3.0, 1.0])
LPS[:3, 3] = [100.0, 80.0, -50.0]
SETTINGS = dict(spacing=4.0, shape=(8, 8, 8))
SHARED = SHARED_DATA
FORK = "fork" in mp.get_all_start_methods()


def _save(path, data, affine=LPS):
    nib.save(nib.Nifti1Image(np.asarray(data), affine), path)
    return path


def _pet_and_mask(folder, name="p", seed=0, shape=(20, 18, 16)):
    rng = np.random.default_rng(seed)
    pet = rng.gamma(2.0, 1.0, shape).astype(np.float32)
    mask = np.zeros(shape, np.uint8)
    mask[5:11, 6:12, 4:9] = 1
    return _save(folder / f"{name}.nii.gz", pet), _save(folder / f"{name}_mask.nii.gz", mask)


def _later(path, seconds=1):
    """Give ``path`` a later modification time, as a later write or ``touch`` would."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 10**9))


def _assert_same(got, expected):
    (pet, mask, rec), (pet_e, mask_e, rec_e) = got, expected
    np.testing.assert_array_equal(pet, pet_e)
    assert pet.dtype == np.float32 and pet.shape == pet_e.shape
    if mask_e is None:
        assert mask is None
    else:
        np.testing.assert_array_equal(mask, mask_e)
        assert mask.dtype == np.float32
    assert rec.to_dict() == rec_e.to_dict()  # shapes, affines, orientation, path


@pytest.fixture
def loads(monkeypatch):
    """Paths of the PET files that prepare_volume reads from NIfTI."""
    calls = []
    real = geometry.load_pet

    def counting(path, *args, **kwargs):
        calls.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(geometry, "load_pet", counting)
    return calls


def test_warm_cache_equals_prepare_volume_without_reading_nifti(tmp_path, loads):
    pet, mask = _pet_and_mask(tmp_path)
    expected = prepare_volume(pet, mask, **SETTINGS)
    expected_no_mask = prepare_volume(pet, **SETTINGS)
    cache = PreprocessedCache(tmp_path / "cache")
    loads.clear()
    cold = cache.get(pet, mask, **SETTINGS)
    warm = cache.get(pet, mask, **SETTINGS)
    assert loads == [str(pet)]
    _assert_same(cold, expected)
    _assert_same(warm, expected)
    assert not any(a.flags.writeable for a in (*cold[:2], *warm[:2]))
    for _ in range(2):  # the same PET without its mask is another entry
        _assert_same(cache.get(pet, **SETTINGS), expected_no_mask)
    assert len(loads) == 2 and len(cache) == 2
    # another instance on the folder (as in another process) finds the entries
    _assert_same(PreprocessedCache(tmp_path / "cache").get(pet, mask, **SETTINGS), expected)
    assert len(loads) == 2


def test_changed_source_is_read_again(tmp_path, loads):
    pet, mask = _pet_and_mask(tmp_path)
    cache = PreprocessedCache(tmp_path / "cache")

    def reads_of_get():
        loads.clear()
        item = cache.get(pet, mask, **SETTINGS)
        return len(loads), item

    _, first = reads_of_get()
    _save(pet, np.asarray(nib.load(pet).dataobj) * 2 + 1)  # new data
    _later(pet)
    n, second = reads_of_get()
    assert n == 1
    _assert_same(second, prepare_volume(pet, mask, **SETTINGS))
    np.testing.assert_allclose(second[0], 2 * first[0] + 1, rtol=1e-5)
    _later(pet)  # touched: same contents, new mtime
    assert reads_of_get()[0] == 1
    _later(mask)
    assert reads_of_get()[0] == 1
    assert reads_of_get()[0] == 0
    st = os.stat(pet)
    _save(pet, np.ones((20, 18, 16), np.float32))  # another size, under the old mtime
    os.utime(pet, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(pet).st_size != st.st_size
    n, third = reads_of_get()
    assert n == 1
    _assert_same(third, prepare_volume(pet, mask, **SETTINGS))


def test_file_changed_while_read_is_not_stored_under_its_old_stat(tmp_path, monkeypatch):
    pet, mask = _pet_and_mask(tmp_path)
    cache = PreprocessedCache(tmp_path / "cache")
    real = geometry.load_pet

    def rewritten_meanwhile(path, *args, **kwargs):
        volume = real(path, *args, **kwargs)
        _later(pet)  # another writer finishes after the read began
        return volume

    monkeypatch.setattr(geometry, "load_pet", rewritten_meanwhile)
    cache.get(pet, mask, **SETTINGS)
    assert len(cache) == 0
    monkeypatch.undo()
    cache.get(pet, mask, **SETTINGS)
    assert len(cache) == 1


def test_sha256_survives_touch_and_copy_but_not_new_contents(tmp_path, loads):
    pet, mask = _pet_and_mask(tmp_path)
    cache = PreprocessedCache(tmp_path / "cache", verify="sha256")
    expected = cache.get(pet, mask, **SETTINGS)
    _later(pet)
    _later(mask)
    _assert_same(cache.get(pet, mask, **SETTINGS), expected)
    copy = shutil.copy(pet, tmp_path / "copy.nii.gz")
    got = cache.get(copy, mask, **SETTINGS)
    assert len(loads) == 1 and got[2].path == str(copy)
    np.testing.assert_array_equal(got[0], expected[0])
    assert cache.prune() == 0  # touched but identical: still valid
    st = os.stat(pet)
    _save(pet, np.asarray(nib.load(pet).dataobj) + 1)  # new contents under the old mtime
    os.utime(pet, ns=(st.st_atime_ns, st.st_mtime_ns))
    np.testing.assert_allclose(cache.get(pet, mask, **SETTINGS)[0], expected[0] + 1, rtol=1e-5)
    assert len(loads) == 2


def test_settings_that_change_the_output_get_their_own_entry(tmp_path, loads):
    pet, mask = _pet_and_mask(tmp_path)
    cache = PreprocessedCache(tmp_path / "cache")
    variants = [SETTINGS, dict(spacing=3.0, shape=(8, 8, 8)), dict(spacing=4.0, shape=(6, 8, 8)),
                dict(spacing=4.0, shape=None), dict(SETTINGS, interpolation="nearest"),
                dict(SETTINGS, center="body")]
    for kw in variants:
        _assert_same(cache.get(pet, mask, **kw), prepare_volume(pet, mask, **kw))
    assert len(cache) == len(variants)
    n = len(loads)
    # other spellings of the same settings share the entry
    cache.get(pet, mask, spacing=(4, 4, 4), shape=[8, 8, 8], interpolation=1, center="auto")
    assert len(loads) == n and len(cache) == len(variants)


@pytest.mark.parametrize("name", ["pet.npy", "mask.npy", "record.json"])
def test_truncated_entry_is_rebuilt(tmp_path, loads, name):
    pet, mask = _pet_and_mask(tmp_path)
    folder = tmp_path / "cache"
    cache = PreprocessedCache(folder)
    expected = cache.get(pet, mask, **SETTINGS)
    (entry,) = folder.iterdir()
    damaged = entry / name
    with open(damaged, "r+b") as f:
        f.truncate(damaged.stat().st_size // 2)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        _assert_same(cache.get(pet, mask, **SETTINGS), expected)
    _assert_same(cache.get(pet, mask, **SETTINGS), expected)
    assert len(loads) == 2  # rebuilt once, then read back
    assert [p.name for p in folder.iterdir()] == [entry.name]


def _race(pet, mask, folder, barrier, results):
    real = geometry.load_pet

    def slow(path, *args, **kwargs):  # keeps all writers between miss and store at once
        slow.calls += 1
        time.sleep(0.3)
        return real(path, *args, **kwargs)

    slow.calls = 0
    geometry.load_pet = slow  # in this child process only
    barrier.wait(timeout=60)
    p, m, rec = PreprocessedCache(folder).get(pet, mask, **SETTINGS)
    results.put((np.array(p), np.array(m), rec.to_dict(), slow.calls))


def test_concurrent_writers_leave_one_intact_entry(tmp_path, loads):
    pet, mask = _pet_and_mask(tmp_path)
    folder = tmp_path / "cache"
    expected = prepare_volume(pet, mask, **SETTINGS)
    ctx = mp.get_context("fork" if FORK else "spawn")
    barrier, results, n = ctx.Barrier(4), ctx.Queue(), 4
    procs = [ctx.Process(target=_race, args=(pet, mask, folder, barrier, results))
             for _ in range(n)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() notices on some Pythons
        for p in procs:
            p.start()
    got = [results.get(timeout=120) for _ in range(n)]
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * n
    assert sum(g[3] for g in got) >= 2  # several processes computed and stored the entry
    for pet_arr, mask_arr, rec, _ in got:
        _assert_same((pet_arr, mask_arr, geometry.GeometryRecord.from_dict(rec)), expected)
    (entry,) = folder.iterdir()  # one entry, no temporary folder
    assert sorted(p.name for p in entry.iterdir()) == ["mask.npy", "pet.npy", "record.json"]
    loads.clear()
    _assert_same(PreprocessedCache(folder).get(pet, mask, **SETTINGS), expected)
    assert loads == []


def _fail(path, *args, **kwargs):
    raise AssertionError(f"read {path} from NIfTI")


def test_dataset_with_cache_directory_in_dataloader_workers(tmp_path, monkeypatch):
    pairs = [_pet_and_mask(tmp_path, f"p{i}", seed=i) for i in range(4)]
    pets, masks = [p for p, _ in pairs], [m for _, m in pairs]
    masks[1] = None
    plain = NiftiVolumeDataset(pets, masks, **SETTINGS)
    ds = NiftiVolumeDataset(pets, masks, cache=tmp_path / "cache", **SETTINGS)
    assert len(pickle.dumps(ds)) < 4000  # paths and settings only
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate_volumes,
                                         num_workers=2,
                                         multiprocessing_context="fork" if FORK else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        first = list(loader)
        assert len(PreprocessedCache(tmp_path / "cache")) == 4  # filled by the workers
        if FORK:  # workers of the next epoch inherit a NIfTI reader that fails
            monkeypatch.setattr(geometry, "load_pet", _fail)
        second = list(loader)
    monkeypatch.undo()
    for b1, b2, i in zip(first + second, second + first, [0, 2, 0, 2], strict=True):
        torch.testing.assert_close(b1[0], b2[0])
        torch.testing.assert_close(b1[1], b2[1])
        torch.testing.assert_close(b1[0][0, 0], torch.from_numpy(plain[i][0]))
    pet, mask, rec = ds[0]
    assert pet.flags.writeable and mask.flags.writeable  # items are copies, as without cache
    _assert_same((pet, mask, rec), plain[0])
    assert ds[1][1] is None


def test_dataset_shape_none_gives_the_whole_resampled_grid(tmp_path):
    pet, mask = _pet_and_mask(tmp_path)
    cache = PreprocessedCache(tmp_path / "cache")
    for c in (False, True, cache):
        ds = NiftiVolumeDataset([pet], [mask], spacing=4.0, shape=None, cache=c)
        item = ds[0]
        _assert_same(item, prepare_volume(pet, mask, spacing=4.0, shape=None))
        assert item[0].shape == item[2].resampled_shape == (20, 18, 12)


def test_prune_and_clear(tmp_path, loads):
    folder = tmp_path / "cache"
    cache = PreprocessedCache(folder)
    (a, a_mask), (b, _), (c, _) = (_pet_and_mask(tmp_path, n, seed=i)
                                   for i, n in enumerate("abc"))
    for args in [(a, a_mask), (b,), (c,)]:
        cache.get(*args, **SETTINGS)
    _later(b)
    c.unlink()
    dead = folder / ".tmp-killed-writer"  # as left by a process killed while writing
    dead.mkdir()
    os.utime(dead, (time.time() - 7200, time.time() - 7200))
    (folder / "notes.txt").write_text("not ours")
    assert cache.prune() == 2
    assert len(cache) == 1 and not dead.exists()
    loads.clear()
    cache.get(a, a_mask, **SETTINGS)
    assert loads == []
    cache.clear()
    assert len(cache) == 0 and [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_errors_name_the_file_and_argument(tmp_path):
    pet, mask = _pet_and_mask(tmp_path)
    with pytest.raises(ValueError, match="verify must be one of"):
        PreprocessedCache(tmp_path / "cache", verify="md5")
    with pytest.raises(NotADirectoryError, match=r"p\.nii\.gz"):
        PreprocessedCache(pet)
    cache = PreprocessedCache(tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match=r"ghost\.nii\.gz \(pet_path\)"):
        cache.get(tmp_path / "ghost.nii.gz")
    with pytest.raises(FileNotFoundError, match=r"ghost\.nii\.gz \(mask_path\)"):
        cache.get(pet, tmp_path / "ghost.nii.gz")
    with pytest.raises(TypeError, match="spacings"):
        cache.get(pet, spacings=2.0)
    with pytest.raises(ValueError, match="interpolation"):
        cache.get(pet, interpolation="sinc")
    with pytest.raises(TypeError, match="cache"):
        NiftiVolumeDataset([pet], cache=object())
    assert len(cache) == 0


def test_real_sarcoma_pet_and_mask(tmp_path, loads):
    folder = SHARED / "sts-pet" / "STS_001"
    if not (folder / "PET_image.nii.gz").is_file():
        pytest.skip(f"real PET data not found under {SHARED} (set PETMTL_SHARED_DATA)")
    pet, mask = folder / "PET_image.nii.gz", folder / "PET_mask.nii.gz"
    kw = dict(spacing=3.0, shape=(24, 24, 24))
    expected = prepare_volume(pet, mask, **kw)
    cache = PreprocessedCache(tmp_path / "cache")
    cache.get(pet, mask, **kw)
    loads.clear()
    _assert_same(cache.get(pet, mask, **kw), expected)
    assert loads == [] and expected[1].sum() > 0
