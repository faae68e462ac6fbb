"""DataLoader with num_workers > 0 (Note [DataLoader workers]) against torch.utils.data: batches in
order (map-style, custom samplers, no auto-batching, in_order=False), IterableDataset sharding
through get_worker_info(), per-worker seeds (Python's random, numpy and ember's generator),
worker_init_fn, exceptions re-raised with the worker's traceback, timeouts, a dying worker,
persistent workers, the start methods, tensors of every dtype through shared memory, and no
process left behind (iteration finished, abandoned, or the program exiting mid-epoch)."""
import gc
import multiprocessing
import os
import random
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ember  # noqa: E402
import ember.utils.data as edata  # noqa: E402
import torch.utils.data as tdata  # noqa: E402

LIBS = {"ember": (ember, edata), "torch": (torch, tdata)}
pytestmark = [pytest.mark.filterwarnings("ignore:This DataLoader will create"),
              pytest.mark.forks]  # workers are forked (the default start method here)


def children():
    return multiprocessing.active_children()


@pytest.fixture(autouse=True)
def no_leftover_workers():
    before = {p.pid for p in children()}
    yield
    gc.collect()
    deadline = time.time() + 10
    while time.time() < deadline and {p.pid for p in children()} - before:
        time.sleep(0.05)
    assert not {p.pid for p in children()} - before, "worker processes left running"


def as_lists(batch):
    if isinstance(batch, (ember.Tensor, torch.Tensor)):
        return [str(batch.dtype).split(".")[-1], batch.tolist()]
    if isinstance(batch, (list, tuple)):
        return [as_lists(b) for b in batch]
    if isinstance(batch, dict):
        return {k: as_lists(v) for k, v in batch.items()}
    return batch


# Datasets are module-level so spawn and forkserver workers can unpickle them.

class Samples:
    """Map-style: sample i is (a float vector, an int, a dict with a string); torch's or ember's."""

    def __init__(self, lib, n=23):
        self.lib, self.n = lib.__name__, n  # by name: a module does not pickle (spawn)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        L = sys.modules[self.lib]
        return (L.arange(3, dtype=L.float32) + i, i, {"name": f"s{i}", "v": L.tensor([i, -i])})


def make_iterable(lib_name, n):
    """range(n) as an IterableDataset of that library, sharded by get_worker_info()."""
    return _SHARDED[lib_name](n)


class _EmberSharded(edata.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = edata.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


class _TorchSharded(tdata.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = tdata.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


_SHARDED = {"ember": _EmberSharded, "torch": _TorchSharded}


def loader_batches(lib_name, dataset_fn, **kw):
    L, data = LIBS[lib_name]
    return [as_lists(b) for b in data.DataLoader(dataset_fn(lib_name), **kw)]


# ---- order and batching --------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(batch_size=4), dict(batch_size=4, drop_last=True), dict(batch_size=5, num_workers=1),
    dict(batch_size=None), dict(batch_size=3, prefetch_factor=1), dict(batch_size=2, prefetch_factor=5),
    dict(batch_size=7, num_workers=3),
])
def test_map_style_batches_in_order_as_torch(kw):
    kw = {"num_workers": 2, **kw}
    ds = lambda name: Samples(LIBS[name][0])  # noqa: E731
    got = loader_batches("ember", ds, **kw)
    assert got == loader_batches("torch", ds, **kw)
    assert got == loader_batches("ember", ds, **{k: v for k, v in kw.items() if k not in ("num_workers", "prefetch_factor")})


def test_custom_sampler_and_batch_sampler_order():
    order = [5, 3, 19, 0, 7, 7, 22, 1]
    for kw in (dict(sampler=order, batch_size=3), dict(batch_sampler=[[1, 2], [9], [4, 4, 4], [0]])):
        for w in (0, 2):
            assert loader_batches("ember", lambda n: Samples(LIBS[n][0]), num_workers=w, **kw) == \
                loader_batches("torch", lambda n: Samples(LIBS[n][0]), num_workers=w, **kw)


def test_shuffle_with_a_generator_is_reproducible_and_a_permutation():
    ds = edata.TensorDataset(ember.arange(40))
    runs = []
    for _ in range(2):
        g = ember.Generator().manual_seed(11)
        runs.append([b[0].tolist() for b in edata.DataLoader(ds, batch_size=6, shuffle=True, generator=g, num_workers=2)])
    assert runs[0] == runs[1]
    # as in torch, the order does not depend on num_workers: both draw the workers' base seed first
    g = ember.Generator().manual_seed(11)
    assert runs[0] == [b[0].tolist() for b in edata.DataLoader(ds, batch_size=6, shuffle=True, generator=g)]
    assert sorted(sum(runs[0], [])) == list(range(40)) and sum(runs[0], []) != list(range(40))


def test_in_order_false_gives_every_batch():
    kw = dict(batch_size=3, num_workers=2, in_order=False)
    got = loader_batches("ember", lambda n: Samples(LIBS[n][0]), **kw)
    want = loader_batches("torch", lambda n: Samples(LIBS[n][0]), **kw)
    key = lambda b: b[1][1]  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)


def test_tensor_dataset_and_subset_fast_paths_in_workers():
    x = ember.arange(60.).reshape(20, 3)
    y = ember.arange(20)
    ds = edata.TensorDataset(x, y)
    sub = edata.Subset(ds, list(range(19, -1, -2)))
    for d in (ds, sub):
        want = [[t.tolist() for t in b] for b in edata.DataLoader(d, batch_size=4)]
        assert [[t.tolist() for t in b] for b in edata.DataLoader(d, batch_size=4, num_workers=2)] == want


# ---- IterableDataset -----------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(batch_size=2, num_workers=2), dict(batch_size=2, num_workers=3, drop_last=True),
    dict(batch_size=None, num_workers=2), dict(batch_size=4, num_workers=1), dict(batch_size=3, num_workers=0),
    dict(batch_size=3, num_workers=2, persistent_workers=True),
])
def test_iterable_dataset_sharded_by_worker_info_as_torch(kw):
    for n in (0, 1, 7, 12):
        got = loader_batches("ember", lambda name: make_iterable(name, n), **kw)
        assert got == loader_batches("torch", lambda name: make_iterable(name, n), **kw), n


def test_iterable_dataset_rejects_samplers_and_shuffle_as_torch():
    for kw in (dict(shuffle=True), dict(sampler=[0, 1]), dict(batch_sampler=[[0]])):
        msgs = []
        for name, (L, data) in LIBS.items():
            with pytest.raises(ValueError) as e:
                data.DataLoader(make_iterable(name, 3), **kw)
            msgs.append(str(e.value))
        assert msgs[0] == msgs[1]


def test_iterable_len_and_the_too_many_samples_warning():
    for name, (L, data) in LIBS.items():
        class Liar(data.IterableDataset):
            def __iter__(self):
                return iter(range(10))

            def __len__(self):
                return 2
        dl = data.DataLoader(Liar(), batch_size=3)
        assert len(dl) == 1
        # torch compares the batches yielded with the dataset's reported length
        with pytest.warns(UserWarning, match="was reported to be 2"):
            assert len(list(dl)) == 4


def test_iterable_dataset_abstract_and_chained():
    class NoIter(edata.IterableDataset):
        pass
    with pytest.raises(TypeError):
        NoIter()
    assert isinstance(make_iterable("ember", 3) + make_iterable("ember", 2), edata.ChainDataset)
    assert list(make_iterable("ember", 3) + make_iterable("ember", 2)) == [0, 1, 2, 0, 1]


# ---- seeds and worker_init_fn --------------------------------------------------------------------

class SeedProbe:
    """One sample per worker (batch_size 1, two workers): what a freshly seeded worker draws."""

    def __init__(self, data):
        self.data = data

    def __len__(self):
        return 2

    def __getitem__(self, i):
        info = self.data.get_worker_info()
        return {"id": info.id, "seed": info.seed, "n": info.num_workers, "py": random.random(),
                "np": float(np.random.rand()), "rand": ember.rand(1).item() if self.data is edata else 0.0}


def probe(generator=None, **kw):
    rows = []
    for b in edata.DataLoader(SeedProbe(edata), batch_size=1, num_workers=2, generator=generator, **kw):
        rows.append({k: (v.item() if isinstance(v, ember.Tensor) else v) for k, v in b.items()})
    return rows


def test_worker_seeds_follow_torch_rules():
    from torch.utils.data._utils.worker import _generate_state
    ember.manual_seed(3)
    rows = probe()
    base = rows[0]["seed"] - rows[0]["id"]
    assert [r["id"] for r in rows] == [0, 1]
    for r in rows:
        assert r["n"] == 2 and r["seed"] == base + r["id"]
        # Python's random gets base + id, numpy torch's SeedSequence state, ember the same seed
        assert r["py"] == random.Random(base + r["id"]).random()
        np_rng = np.random.RandomState(np.array(_generate_state(base, r["id"]), dtype=np.uint32))
        assert r["np"] == np_rng.rand()
        gen = ember.Generator().manual_seed(base + r["id"])
        assert r["rand"] == ember.rand(1, generator=gen).item()
    assert rows[0]["seed"] != rows[1]["seed"] and rows[0]["np"] != rows[1]["np"]
    ember.manual_seed(3)
    assert probe() == rows  # reproducible from the default generator's seed
    assert probe() != rows  # the next epoch draws a new base seed
    g1, g2 = ember.Generator().manual_seed(5), ember.Generator().manual_seed(5)
    assert probe(g1) == probe(g2)


def record_init(worker_id):
    info = edata.get_worker_info()
    assert info.id == worker_id
    random.seed(1000 + worker_id)  # an init function may reseed; the dataset sees it


def test_worker_init_fn_runs_in_each_worker_before_fetching():
    rows = probe(worker_init_fn=record_init)
    for r in rows:
        assert r["py"] == random.Random(1000 + r["id"]).random()


def test_worker_info_is_read_only_and_none_in_the_main_process():
    assert edata.get_worker_info() is None
    info = edata.WorkerInfo(id=1, num_workers=2, seed=7, dataset=None)
    assert repr(info) == "WorkerInfo(id=1, num_workers=2, seed=7, dataset=None)"
    with pytest.raises(RuntimeError, match="Cannot assign attributes to WorkerInfo objects"):
        info.id = 3


# ---- errors --------------------------------------------------------------------------------------

class Failing:
    def __init__(self, data):
        self.data = data

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i == 5:
            raise KeyError("five")
        if i == 8:
            raise ValueError(f"bad sample {i}")
        if i == 10:
            raise NeedsTwoArgs("x", "y")
        return i


class NeedsTwoArgs(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


def outcomes(data, **kw):
    out = []
    it = iter(data.DataLoader(Failing(data), batch_size=2, num_workers=2, **kw))
    while True:
        try:
            out.append(next(it).tolist())
        except StopIteration:
            return out
        except Exception as e:
            lines = str(e).splitlines()
            out.append((type(e).__name__, lines[0], lines[1], lines[-1]))


def test_worker_exceptions_reraised_with_traceback_as_torch():
    got = outcomes(edata)
    assert got == outcomes(tdata)
    assert got[2] == ("KeyError", "Caught KeyError in DataLoader worker process 0.", "Original Traceback "
                      "(most recent call last):", "KeyError: 'five'")
    assert got[4][0] == "ValueError" and got[4][-1] == "ValueError: bad sample 8"
    assert got[5][0] == "RuntimeError" and len(got) == 6  # NeedsTwoArgs cannot be made from a message
    with pytest.raises(KeyError) as e:
        list(edata.DataLoader(Failing(edata), batch_size=3, num_workers=2))
    assert "in DataLoader worker process 1." in str(e.value)  # batch [3, 4, 5] is worker 1's
    assert "in __getitem__\n" in str(e.value) and 'raise KeyError("five")' in str(e.value)


def failing_init(worker_id):
    raise OSError(f"no data directory for worker {worker_id}")


def test_worker_init_fn_exception_reraised():
    # torch gives the same last line (checked by hand: its failed workers take 10 s to be reaped)
    with pytest.raises(OSError) as e:
        list(edata.DataLoader(Failing(edata), batch_size=2, num_workers=2, worker_init_fn=failing_init))
    lines = str(e.value).splitlines()
    assert lines[0] == "Caught OSError in DataLoader worker process 0."
    assert lines[-1] == "OSError: no data directory for worker 0" and "in failing_init" in str(e.value)


class Sleepy:
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(5)
        return i


def test_timeout():
    t = time.time()
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.3 seconds"):
        list(edata.DataLoader(Sleepy(), batch_size=2, num_workers=2, timeout=0.3))
    assert time.time() - t < 4


class Dying:
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 3:
            os._exit(7)
        return i


def test_a_dying_worker_raises():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(edata.DataLoader(Dying(), batch_size=1, num_workers=2))
    dl = edata.DataLoader(Dying(), batch_size=1, num_workers=2, persistent_workers=True)
    for _ in range(2):  # a persistent loader whose worker died starts new workers for the next epoch
        it = iter(dl)
        assert next(it).tolist() == [0]
        with pytest.raises(RuntimeError, match="exited unexpectedly"):
            list(it)
    del dl, it


def test_unpicklable_batch_reraised():
    class Local:
        pass

    def collate(batch):
        return Local()
    with pytest.raises(Exception, match="in DataLoader worker process"):
        list(edata.DataLoader(Samples(ember), batch_size=2, num_workers=1, collate_fn=collate))


@pytest.mark.parametrize("kw", [
    dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2), dict(persistent_workers=True),
    dict(num_workers=1, multiprocessing_context="telepathy"), dict(num_workers=1, multiprocessing_context=3),
    dict(multiprocessing_context="fork"), dict(num_workers=1, prefetch_factor=-1), dict(batch_size=None, drop_last=True),
])
def test_option_errors_as_torch(kw):
    errs = []
    for name, (L, data) in LIBS.items():
        with pytest.raises(Exception) as e:
            data.DataLoader(Samples(L), **kw)
        errs.append((type(e.value), str(e.value)))
    assert errs[0] == errs[1]


def test_frozen_attributes_and_warnings_as_torch():
    for name, (L, data) in LIBS.items():
        dl = data.DataLoader(Samples(L), batch_size=2)
        with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
            dl.batch_size = 3
        dl.num_workers = 0  # not frozen
        with pytest.warns(UserWarning, match="pin_memory"):
            next(iter(data.DataLoader(Samples(L), batch_size=2, pin_memory=True)))
        with pytest.warns(UserWarning, match="will create 64 worker processes"):
            data.DataLoader(Samples(L), batch_size=2, num_workers=64)


# ---- persistent workers, start methods, shutdown -------------------------------------------------

class Pids:
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return i, os.getpid()


def test_persistent_workers_keep_their_processes_and_restart_each_epoch():
    dl = edata.DataLoader(Pids(), batch_size=3, num_workers=2, persistent_workers=True)
    seen = []
    for epoch in range(3):
        batches = list(dl)
        assert [b[0].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
        seen.append({p for b in batches for p in b[1].tolist()})
        for _ in dl:  # an abandoned epoch in between
            break
    assert seen[0] == seen[1] == seen[2] and os.getpid() not in seen[0] and len(seen[0]) == 2
    assert len(children()) >= 2
    del dl
    gc.collect()


def test_persistent_iterable_dataset_restarts():
    dl = edata.DataLoader(make_iterable("ember", 5), batch_size=2, num_workers=2, persistent_workers=True)
    assert [[b.tolist() for b in dl] for _ in range(2)] == [[[0, 2], [1, 3], [4]]] * 2
    del dl


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_start_methods(method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} not available")
    kw = dict(batch_size=5, num_workers=2, multiprocessing_context=method)
    assert loader_batches("ember", lambda n: Samples(LIBS[n][0]), **kw) == \
        loader_batches("ember", lambda n: Samples(LIBS[n][0]), batch_size=5)
    ctx = multiprocessing.get_context(method)
    assert len(list(edata.DataLoader(Pids(), batch_size=5, num_workers=1, multiprocessing_context=ctx))) == 2


def test_workers_stop_when_an_epoch_ends_or_the_iterator_is_dropped():
    dl = edata.DataLoader(Pids(), batch_size=2, num_workers=2)
    it = iter(dl)
    next(it)
    procs = list(it._workers)
    assert all(p.is_alive() for p in procs)
    del it
    gc.collect()
    assert not any(p.is_alive() for p in procs)
    it = iter(dl)
    procs = list(it._workers)
    list(it)
    assert not any(p.is_alive() for p in procs)


def run_script(code, *args):
    return subprocess.run([sys.executable, *args, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)


def test_no_worker_outlives_a_program_that_exits_mid_epoch():
    r = run_script("""
        import os, ember
        from ember.utils.data import DataLoader
        class DS:
            def __len__(self): return 1000
            def __getitem__(self, i): return i
        it = iter(DataLoader(DS(), batch_size=2, num_workers=2))
        next(it)
        print(*[p.pid for p in it._workers])
        os.environ["KEEP"] = "1"  # exit with the iterator alive
    """)
    assert r.returncode == 0, r.stderr
    pids = [int(p) for p in r.stdout.split()]
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)


def test_workers_exit_when_the_main_process_is_killed():
    r = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, sys, time, ember
        from ember.utils.data import DataLoader
        class DS:
            def __len__(self): return 1000
            def __getitem__(self, i): return i
        it = iter(DataLoader(DS(), batch_size=2, num_workers=2))
        next(it)
        print(*[p.pid for p in it._workers], flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in r.stdout.readline().split()]
    r.kill()
    r.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# ---- what crosses from a worker ------------------------------------------------------------------

class Typed:
    """Batches of every dtype, large (through a memfd) and small (inside the message)."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return 4

    def __getitem__(self, i):
        out = {}
        for name in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"):
            dt = getattr(ember, name)
            out[name] = (ember.arange(self.rows * 3) % 7 + i).to(dt).reshape(self.rows, 3)
        out["view"] = ember.arange(12.).reshape(3, 4).t()[1:]  # non-contiguous
        out["empty"] = ember.zeros(0, 5)
        out["scalar"] = ember.tensor(float(i))
        return out


@pytest.mark.parametrize("rows", [2, 5000])
def test_every_dtype_crosses_intact(rows):
    def key(b):
        return {k: (str(v.dtype), v.shape, v.float().tolist()) for k, v in b.items()}
    want = [key(b) for b in edata.DataLoader(Typed(rows), batch_size=2)]
    got = list(edata.DataLoader(Typed(rows), batch_size=2, num_workers=2))
    assert [key(b) for b in got] == want
    b = got[0]["float32"]
    b.add_(1)  # writable, and owned by the main process
    assert b[0, 0, 0].item() == want[0]["float32"][2][0][0][0] + 1
    assert not any(n.startswith("ember") for n in os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else True


def test_requires_grad_and_parameters_cross():
    def collate(batch):
        return ember.nn.Parameter(ember.ones(2)), ember.ones(3, requires_grad=True), ember.ones(1)
    p, r, plain = next(iter(edata.DataLoader(Samples(ember), batch_size=2, num_workers=1, collate_fn=collate)))
    assert isinstance(p, ember.nn.Parameter) and p.requires_grad and r.requires_grad and r.is_leaf
    assert not plain.requires_grad


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_torch_program_with_workers_runs_unchanged_under_ember(tmp_path, method):
    """Under spawn (forkserver likewise; Python 3.14's default) the worker imports the program afresh:
    its `import torch` must find ember's stand-in (install_as_torch() puts it on sys.path)."""
    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent("""
        import torch
        from torch.utils.data import DataLoader, Dataset, get_worker_info

        class Data(Dataset):
            def __init__(self):
                self.x = torch.arange(-3, 3, 0.1).view(-1, 1)
                self.y = 2 * self.x - 1 + 0.1 * torch.sin(7 * self.x)
            def __len__(self):
                return len(self.x)
            def __getitem__(self, i):
                assert get_worker_info() is not None
                return self.x[i], torch.sin(torch.asin(self.y[i] / 4)) * 4

        if __name__ == "__main__":
            model = torch.nn.Linear(1, 1)
            with torch.no_grad():
                model.weight.fill_(0.5)
                model.bias.fill_(-0.25)
            opt = torch.optim.SGD(model.parameters(), lr=0.05)
            loader = DataLoader(Data(), batch_size=8, num_workers=2, persistent_workers=True,
                                multiprocessing_context=METHOD)
            for epoch in range(4):
                total = 0.0
                for x, y in loader:
                    opt.zero_grad()
                    loss = torch.nn.functional.mse_loss(model(x), y)
                    loss.backward()
                    opt.step()
                    total += loss.item()
                print(epoch, f"{total:.5f}")
    """).replace("METHOD", repr(method)))
    want = subprocess.run([sys.executable, str(prog)], capture_output=True, text=True, timeout=120)
    got = subprocess.run([sys.executable, "-m", "ember", str(prog)], capture_output=True, text=True, timeout=120)
    assert want.returncode == 0 and got.returncode == 0, got.stderr
    assert got.stdout == want.stdout and len(got.stdout.splitlines()) == 4
