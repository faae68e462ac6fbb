"""ember.utils.data against torch.utils.data: Dataset, TensorDataset, Subset, random_split,
DataLoader batching, shuffling, drop_last, len(), default collate and custom collate_fn."""
import collections
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ember  # noqa: E402
import ember.utils.data as edata  # noqa: E402
import torch.utils.data as tdata  # noqa: E402
from nn_helpers import dtype_name, pair, rng, to_np  # noqa: E402

LIBS = {"ember": (ember, edata), "torch": (torch, tdata)}


class IndexDataset:
    """Returns its index: lets a test see which samples a loader visited."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        return i

    def __len__(self):
        return self.n


def make_index_dataset(data, n):
    class DS(data.Dataset):
        def __getitem__(self, i):
            return i

        def __len__(self):
            return n

    return DS()


def tensors(n=10):
    g = rng(0)
    x = g.standard_normal((n, 3)).astype(np.float32)
    y = g.integers(0, 4, n).astype(np.int64)
    return x, y


def test_tensor_dataset():
    x, y = tensors()
    ex, tx = pair(x)
    ey, ty = pair(y)
    ds = edata.TensorDataset(ex, ey)
    assert len(ds) == 10 and isinstance(ds, edata.Dataset)
    xi, yi = ds[3]
    np.testing.assert_array_equal(to_np(xi), x[3])
    assert yi.item() == y[3]
    assert len(ds.tensors) == 2
    with pytest.raises((AssertionError, ValueError, RuntimeError)):
        edata.TensorDataset(ex, ember.zeros(9))


def test_subset_and_concat_indexing():
    x, y = tensors()
    ds = edata.TensorDataset(ember.tensor(x), ember.tensor(y))
    sub = edata.Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub.indices == [7, 2, 5] and sub.dataset is ds
    np.testing.assert_array_equal(to_np(sub[0][0]), x[7])
    np.testing.assert_array_equal(to_np(sub[2][0]), x[5])
    batches = list(edata.DataLoader(sub, batch_size=2))
    np.testing.assert_array_equal(to_np(batches[0][0]), x[[7, 2]])
    np.testing.assert_array_equal(to_np(batches[1][1]), y[[5]])


@pytest.mark.parametrize("n,lengths", [
    (10, [3, 7]), (10, [0.3, 0.7]), (10, [0.33, 0.33, 0.34]), (7, [0.5, 0.5]), (11, [0.1, 0.2, 0.7]),
    (5, [5, 0]),
])
def test_random_split_sizes(n, lengths):
    e_parts = edata.random_split(IndexDataset(n), lengths)
    t_parts = tdata.random_split(IndexDataset(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(p) for p in e_parts] == [len(p) for p in t_parts]
    seen = sorted(i for p in e_parts for i in (p[k] for k in range(len(p))))
    assert seen == list(range(n))
    assert all(isinstance(p, edata.Subset) for p in e_parts)


def test_random_split_errors_and_generator():
    with pytest.raises(ValueError):
        edata.random_split(IndexDataset(10), [3, 3])
    a = edata.random_split(IndexDataset(20), [10, 10], generator=ember.Generator().manual_seed(4))
    b = edata.random_split(IndexDataset(20), [10, 10], generator=ember.Generator().manual_seed(4))
    assert list(a[0].indices) == list(b[0].indices)


@pytest.mark.parametrize("batch_size,drop_last", [(4, False), (4, True), (5, False), (5, True), (1, False),
                                                  (16, False), (16, True)])
def test_batches_shapes_dtypes_len(batch_size, drop_last):
    x, y = tensors(10)
    shapes = {}
    for name, (lib, data) in LIBS.items():
        loader = data.DataLoader(data.TensorDataset(lib.tensor(x), lib.tensor(y)), batch_size=batch_size,
                                 drop_last=drop_last)
        batches = list(loader)
        shapes[name] = (len(loader), [(tuple(a.shape), dtype_name(a.dtype), tuple(b.shape), dtype_name(b.dtype))
                                      for a, b in batches])
        if name == "ember":
            got = np.concatenate([to_np(a) for a, _ in batches]) if batches else np.zeros((0, 3))
            np.testing.assert_array_equal(got, x[:len(got)])
            assert len(batches) == len(loader)
    assert shapes["ember"] == shapes["torch"]


def test_default_batch_size_is_one():
    x, y = tensors(3)
    loader = edata.DataLoader(edata.TensorDataset(ember.tensor(x), ember.tensor(y)))
    assert len(loader) == 3
    xb, yb = next(iter(loader))
    assert tuple(xb.shape) == (1, 3) and tuple(yb.shape) == (1,)


def test_shuffle_visits_every_index_once_per_epoch():
    n = 53
    loader = edata.DataLoader(make_index_dataset(edata, n), batch_size=8, shuffle=True)
    orders = []
    for _ in range(3):
        batches = list(loader)
        assert [len(b) for b in batches] == [8] * 6 + [5]
        order = np.concatenate([to_np(b) for b in batches]).tolist()
        assert sorted(order) == list(range(n))
        orders.append(order)
    assert orders[0] != list(range(n)) or orders[1] != list(range(n)), "shuffle=True did not shuffle"
    assert not (orders[0] == orders[1] == orders[2]), "every epoch used the same permutation"
    dl = edata.DataLoader(make_index_dataset(edata, n), batch_size=8, shuffle=True, drop_last=True)
    order = np.concatenate([to_np(b) for b in dl]).tolist()
    assert len(order) == 48 and len(set(order)) == 48 and len(dl) == 6


def test_shuffled_tensor_dataset_keeps_pairs_aligned():
    x = np.arange(0.0, 60.0, dtype=np.float32).reshape(30, 2)
    y = np.arange(30, dtype=np.int64) * 10
    ds = edata.TensorDataset(ember.tensor(x), ember.tensor(y))
    for loader in (edata.DataLoader(ds, batch_size=4, shuffle=True),
                   edata.DataLoader(edata.Subset(ds, list(range(5, 25))), batch_size=3, shuffle=True)):
        seen = []
        for xb, yb in loader:
            xb, yb = to_np(xb), to_np(yb)
            np.testing.assert_array_equal(xb[:, 0] * 5, yb)  # row i of x is (2i, 2i+1), y[i] = 10 i
            np.testing.assert_array_equal(xb[:, 1], xb[:, 0] + 1)
            seen.extend(yb.tolist())
        assert len(seen) == len(set(seen)) == len(loader.dataset)


def test_generator_argument():
    ds = IndexDataset(40)
    runs = []
    for _ in range(2):
        loader = edata.DataLoader(ds, batch_size=7, shuffle=True, generator=ember.Generator().manual_seed(123))
        runs.append(np.concatenate([to_np(b) for b in loader]).tolist())
    assert runs[0] == runs[1]
    assert sorted(runs[0]) == list(range(40))


def test_no_shuffle_is_repeatable_and_ordered():
    loader = edata.DataLoader(IndexDataset(10), batch_size=3)
    a = [to_np(b).tolist() for b in loader]
    b = [to_np(b).tolist() for b in loader]
    assert a == b == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_common_keyword_arguments_accepted():
    loader = edata.DataLoader(IndexDataset(6), batch_size=2, shuffle=False, num_workers=0, pin_memory=False)
    assert [to_np(b).tolist() for b in loader] == [[0, 1], [2, 3], [4, 5]]
    assert loader.batch_size == 2 and loader.dataset is not None


Point = collections.namedtuple("Point", "x y")


def _samples(lib):
    """Each entry: a list of samples of one kind, built for ember or torch."""
    f32 = np.arange(3, dtype=np.float32)
    return {
        "tuple_tensor_int": [(lib.tensor(f32 + i), i) for i in range(4)],
        "tuple_mixed": [(1, 2.0, "a", True), (3, 4.0, "b", False)],
        "list_ints": [[1, 2], [3, 4], [5, 6]],
        "ints": [3, 1, 2],
        "floats": [0.5, 1.5],
        "dict": [{"a": np.float64(i), "b": f32 * i, "c": lib.tensor([i, i + 1])} for i in range(3)],
        "nested": [{"x": (lib.tensor([1.0 * i]), [i, i + 1]), "name": f"s{i}"} for i in range(2)],
        "numpy_f64": [np.full((2, 2), i, dtype=np.float64) for i in range(3)],
        "numpy_f32": [np.full((2,), i, dtype=np.float32) for i in range(3)],
        "numpy_i64": [np.array([i, 2 * i], dtype=np.int64) for i in range(3)],
        "numpy_scalars": [np.float64(1.5), np.float64(2.5)],
        "numpy_int_scalars": [np.int64(4), np.int64(5)],
        "namedtuple": [Point(1, 2.0), Point(3, 4.0)],
        "tensor_0d": [lib.tensor(1.5), lib.tensor(2.5)],
        "tensor_int": [lib.tensor([1, 2]), lib.tensor([3, 4])],
        # the C++ fast path (_C._collate_tensors): tuples / lists of tensors, views, several dtypes
        "tuple_tensors": [(lib.tensor(f32 + i)[1:], lib.tensor(float(i))) for i in range(4)],
        "list_tensors": [[lib.tensor([i, 2 * i]), lib.tensor([[1.0 * i]])] for i in range(3)],
        "tuple_tensor_views": [(lib.tensor(np.arange(12, dtype=np.float32).reshape(3, 4)).t()[i],) for i in range(4)],
        "tensor_rows": [lib.tensor(np.arange(6, dtype=np.float64).reshape(3, 2))[i] for i in range(3)],
    }


def _describe(obj):
    """A library-neutral description of a collated batch."""
    if isinstance(obj, (torch.Tensor, ember.Tensor)):
        return ("tensor", tuple(obj.shape), dtype_name(obj.dtype), to_np(obj).tolist())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return (type(obj).__name__, tuple(_describe(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [_describe(v) for v in obj])
    if isinstance(obj, dict):
        return ("dict", [(k, _describe(v)) for k, v in obj.items()])
    return (type(obj).__name__, obj)


@pytest.mark.parametrize("kind", list(_samples(ember)))
def test_default_collate_matches_torch(kind):
    e_batch = next(iter(edata.DataLoader(_samples(ember)[kind], batch_size=4)))
    t_batch = next(iter(tdata.DataLoader(_samples(torch)[kind], batch_size=4)))
    assert _describe(e_batch) == _describe(t_batch)


def test_default_collate_function_exported():
    from ember.utils.data import default_collate
    out = default_collate([(1, 2.0), (3, 4.0)])
    assert _describe(out) == _describe(tdata.default_collate([(1, 2.0), (3, 4.0)]))


def test_custom_collate_fn():
    x, y = tensors(6)
    ds = edata.TensorDataset(ember.tensor(x), ember.tensor(y))
    raw = list(edata.DataLoader(ds, batch_size=4, collate_fn=lambda batch: batch))
    assert [len(b) for b in raw] == [4, 2]
    assert isinstance(raw[0], list) and isinstance(raw[0][0], tuple)
    np.testing.assert_array_equal(to_np(raw[1][1][0]), x[5])

    def collate(batch):
        xs = ember.stack([s[0] for s in batch])
        return xs.sum(), len(batch)

    out = list(edata.DataLoader(ds, batch_size=4, collate_fn=collate))
    assert out[1][1] == 2
    assert out[0][0].item() == pytest.approx(float(x[:4].sum()), rel=1e-5)


def test_dataset_subclass_with_tuple_items():
    class Pairs(edata.Dataset):
        def __init__(self):
            self.x = ember.arange(0.0, 12.0).view(6, 2)
            self.y = ember.arange(6)

        def __getitem__(self, i):
            return self.x[i], self.y[i]

        def __len__(self):
            return 6

    loader = edata.DataLoader(Pairs(), batch_size=4)
    (xb, yb), (xb2, yb2) = list(loader)
    assert tuple(xb.shape) == (4, 2) and tuple(yb2.shape) == (2,)
    assert dtype_name(xb.dtype) == "float32" and dtype_name(yb.dtype) == "int64"
    np.testing.assert_array_equal(to_np(xb2), [[8.0, 9.0], [10.0, 11.0]])
    assert len(loader) == 2


@pytest.mark.parametrize("n,batch_size,drop_last", [(60, 20, False), (61, 20, False), (61, 20, True), (5, 20, False),
                                                     (5, 20, True), (0, 3, False), (40, 20, True), (7, 1, True)])
def test_batch_sampler_batches_and_sampler_use_as_torch(n, batch_size, drop_last):
    """BatchSampler takes each batch in one islice: the same index lists as torch's, and the
    sampler is advanced exactly as far (a sampler that counts the indices it handed out)."""
    class Counting:
        def __init__(self):
            self.given = 0

        def __iter__(self):
            for i in range(n):
                self.given += 1
                yield i * 3

        def __len__(self):
            return n

    got_s, want_s = Counting(), Counting()
    got = list(edata.BatchSampler(got_s, batch_size, drop_last))
    want = list(tdata.BatchSampler(want_s, batch_size, drop_last))
    assert got == want and all(type(b) is list for b in got)
    assert got_s.given == want_s.given
    assert len(edata.BatchSampler(range(n), batch_size, drop_last)) == len(want)


def _subset_cases(lib):
    x = lib.tensor(np.arange(40, dtype=np.float32).reshape(20, 2))
    y = lib.tensor(np.arange(20, dtype=np.int64))
    ds = lib.utils.data.TensorDataset(x, y)
    # random_split's permutation comes from ember's own generator: torch gets the same indices
    split = edata.random_split(edata.TensorDataset(ember.arange(20.0)), [14, 6],
                               generator=ember.Generator().manual_seed(0))[0]
    assert isinstance(split, edata.Subset) and sorted(split.indices) != split.indices
    return {
        "random_split": lib.utils.data.Subset(ds, split.indices),
        "nested": lib.utils.data.Subset(lib.utils.data.Subset(ds, list(range(19, -1, -1))), [0, 5, 3, 9, 2, 7, 1]),
        "tuple_indices": lib.utils.data.Subset(ds, (3, 1, 4, 1, 5, 9, 2, 6)),
        "negative": lib.utils.data.Subset(ds, [-1, -2, 0, 3]),
        "range": lib.utils.data.Subset(ds, range(2, 18, 3)),
    }


@pytest.mark.parametrize("case", ["random_split", "nested", "tuple_indices", "negative", "range"])
@pytest.mark.parametrize("batch_size,drop_last", [(4, False), (3, True), (1, False)])
def test_subset_of_tensordataset_batches_as_torch(case, batch_size, drop_last):
    """A Subset of a TensorDataset (random_split's parts, Subsets of Subsets) is gathered in one
    call per batch: the same batches as torch's per-sample path and default collate, including
    indices the gather cannot take (negative ones go the per-sample way)."""
    got = list(edata.DataLoader(_subset_cases(ember)[case], batch_size=batch_size, drop_last=drop_last))
    want = list(tdata.DataLoader(_subset_cases(torch)[case], batch_size=batch_size, drop_last=drop_last))
    assert len(got) == len(want)
    for gb, wb in zip(got, want):
        assert type(gb) is type(wb) is list and len(gb) == len(wb) == 2
        for g, w in zip(gb, wb):
            assert dtype_name(g.dtype) == str(w.dtype).split(".")[1]
            np.testing.assert_array_equal(g.numpy(), w.numpy())


def test_subset_out_of_range_index_raises_as_per_sample():
    ds = edata.Subset(edata.TensorDataset(ember.arange(5.0)), [0, 7])
    with pytest.raises(IndexError):
        list(edata.DataLoader(ds, batch_size=2))


def _collate_samples(lib):
    x = lib.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    return {
        "tensor_int": [(x[i], i % 3) for i in range(4)],
        "tensor_float": [[x[i], 0.5 * i] for i in range(4)],
        "ints": [3, -1, 2 ** 40, 0],
        "floats": [0.25, -1.5, 1e300, 2.0],
        "dict": [{"image": x[i], "label": i, "weight": 1.0 / (i + 1)} for i in range(4)],
        "dict_extra_keys": [{"a": x[0]}, {"a": x[1], "b": 1}],
        "bools": [(x[i], i % 2 == 0) for i in range(4)],
        "empty_dict": [{}, {}],
        "big_int": [(x[0], 2 ** 70)] if lib is ember else None,
    }


@pytest.mark.parametrize("case", ["tensor_int", "tensor_float", "ints", "floats", "dict", "dict_extra_keys", "bools",
                                  "empty_dict"])
def test_default_collate_numbers_and_dicts_as_torch(case):
    """Tensors, Python ints and floats, in tuples, lists or str-keyed dicts, collate in one C++
    call (ints -> int64, floats -> float64, dicts in key order); what it does not take goes the
    Python way: the same result as torch's default_collate either way."""
    got = edata.default_collate(_collate_samples(ember)[case])
    want = tdata.default_collate(_collate_samples(torch)[case])

    def same(g, w):
        if isinstance(w, torch.Tensor):
            assert dtype_name(g.dtype) == str(w.dtype).split(".")[1]
            np.testing.assert_array_equal(g.numpy(), w.numpy())
        elif isinstance(w, dict):
            assert type(g) is dict and list(g) == list(w)
            for k in w:
                same(g[k], w[k])
        else:
            assert type(g) is type(w) and len(g) == len(w)
            for a, b in zip(g, w):
                same(a, b)

    same(got, want)


def test_default_collate_int_overflow_raises_as_torch():
    for batch in (_collate_samples(ember)["big_int"], [2 ** 70, 1]):
        with pytest.raises(ValueError, match="Overflow when unpacking long long"):
            edata.default_collate(batch)


def test_torch_utils_data_import_paths():
    """Paths programs import from: torch.utils.data._utils.collate / .worker and the dataloader module."""
    import importlib
    for mod, names in (("utils.data._utils.collate", ["default_collate", "default_convert"]),
                       ("utils.data._utils.worker", ["get_worker_info", "WorkerInfo"]),
                       ("utils.data.dataloader", ["default_collate", "default_convert", "get_worker_info", "DataLoader"])):
        e, t = importlib.import_module("ember." + mod), importlib.import_module("torch." + mod)
        for n in names:
            assert hasattr(t, n) and hasattr(e, n), (mod, n)
    from ember.utils.data._utils.collate import default_collate
    assert default_collate([ember.ones(2), ember.zeros(2)]).tolist() == [[1.0, 1.0], [0.0, 0.0]]
