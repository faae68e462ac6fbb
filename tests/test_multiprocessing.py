"""Tensors in shared memory (Note [Shared memory]): Tensor.share_memory_() / is_shared(),
Module.share_memory() and Hogwild training in forked, spawned and forkserver processes, tensors
through multiprocessing queues (shared, not copied, as torch's), and ember.multiprocessing
(torch.multiprocessing's names, spawn() and its errors)."""
import multiprocessing
import multiprocessing.reduction
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
import ember.multiprocessing as emp

METHODS = [pytest.param(m, marks=pytest.mark.forks) if m == "fork" else m
           for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]


def test_share_memory_in_place_keeps_values_views_and_grads():
    base = ember.arange(12.).reshape(3, 4)
    view = base[1:, ::2]
    base.requires_grad_(True)
    base.grad = ember.full((3, 4), 0.5)
    before = (base.tolist(), view.tolist())
    assert not base.is_shared()
    assert base.share_memory_() is base
    assert base.is_shared() and view.is_shared() and base.requires_grad
    assert (base.tolist(), view.tolist()) == before
    base.share_memory_()  # again: a no-op
    with ember.no_grad():
        base[2, 2] = -1.0
    assert view[1, 1].item() == -1.0  # the view still reads the moved storage
    for t in (ember.tensor(3.5), ember.zeros(0, 2), ember.ones(4, dtype=ember.bfloat16), ember.arange(5)):
        vals = t.tolist()
        assert t.share_memory_().is_shared() and t.tolist() == vals


def test_share_memory_of_numpy_memory_is_refused_and_leaves_it():
    a = np.ones(3, dtype=np.float32)
    t = ember.from_numpy(a)
    with pytest.raises(ValueError, match=r"share_memory_\(\): the tensor's memory is not ember's"):
        t.share_memory_()
    a[0] = 5
    assert t.tolist() == [5, 1, 1] and not t.is_shared()


@pytest.mark.forks
def test_a_forked_child_writes_into_shared_memory():
    t = ember.zeros(4).share_memory_()
    private = ember.zeros(4)
    pid = os.fork()
    if pid == 0:
        t.add_(7)
        private.add_(7)
        os._exit(0)
    os.waitpid(pid, 0)
    assert t.tolist() == [7.0] * 4 and private.tolist() == [0.0] * 4


def add_to_parameters(model, amount):
    with ember.no_grad():
        for p in model.parameters():
            p.add_(amount)


@pytest.mark.parametrize("method", METHODS)
def test_module_share_memory_processes_update_one_model(method):
    model = ember.nn.Linear(3, 2)
    with ember.no_grad():
        model.weight.fill_(0.0)
        model.bias.fill_(1.0)
    assert model.share_memory() is model
    assert all(p.is_shared() for p in model.parameters())
    ctx = emp.get_context(method)
    # one child after the other: two concurrent add_ on shared memory race (a lost update), in torch too
    for k in (1.0, 10.0):
        p = ctx.Process(target=add_to_parameters, args=(model, k))
        p.start()
        p.join()
        assert p.exitcode == 0
    assert model.weight.tolist() == [[11.0] * 3] * 2 and model.bias.tolist() == [12.0, 12.0]
    assert isinstance(model.weight, ember.nn.Parameter)


def hogwild(model, seed, steps):
    ember.manual_seed(seed)
    opt = ember.optim.SGD(model.parameters(), lr=0.05)
    x = ember.linspace(-1, 1, 32).reshape(-1, 1)
    y = 3 * x - 2
    for _ in range(steps):
        opt.zero_grad()
        ember.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


@pytest.mark.forks
def test_hogwild_training():
    model = ember.nn.Linear(1, 1)
    with ember.no_grad():
        model.weight.fill_(0.0)
        model.bias.fill_(0.0)
    model.share_memory()
    procs = [emp.Process(target=hogwild, args=(model, s, 150)) for s in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    # trained by the children, in the parent's tensors
    assert model.weight.item() == pytest.approx(3.0, abs=0.05) and model.bias.item() == pytest.approx(-2.0, abs=0.05)


def double_from_queue(q, done):
    t = q.get()
    with ember.no_grad():
        t.mul_(2)
    done.put((type(t).__name__, t.requires_grad, t.is_shared(), tuple(t.shape)))


@pytest.mark.parametrize("method", METHODS)
def test_tensors_through_a_queue_are_shared_as_in_torch(method):
    ctx = emp.get_context(method)
    q, done = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=double_from_queue, args=(q, done))
    p.start()
    base = ember.arange(6.).reshape(2, 3)
    q.put(base.t())  # a non-contiguous view: its whole storage moves into shared memory
    info = done.get(timeout=60)
    p.join()
    assert info == ("Tensor", False, True, (3, 2))
    assert base.is_shared() and base.tolist() == [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]


@pytest.mark.forks
def test_parameters_requires_grad_numpy_memory_and_refusals_through_a_queue():
    ctx = emp.get_context("fork")
    q, done = ctx.Queue(), ctx.Queue()
    for t in (ember.nn.Parameter(ember.ones(2)), ember.ones(2, requires_grad=True)):
        p = ctx.Process(target=double_from_queue, args=(q, done))
        p.start()
        q.put(t)
        name, rg, shared, _ = done.get(timeout=60)
        p.join()
        assert (name, rg, shared) == (type(t).__name__, True, True)
    a = np.ones(3, dtype=np.float32)
    p = ctx.Process(target=double_from_queue, args=(q, done))
    p.start()
    q.put(ember.from_numpy(a))  # memory ember does not own: sent as a shared copy
    assert done.get(timeout=60)[2]
    p.join()
    assert a.tolist() == [1.0, 1.0, 1.0]
    nonleaf = ember.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor which requires_grad"):
        multiprocessing.reduction.ForkingPickler.dumps(nonleaf)


def test_plain_pickle_still_copies():
    t = ember.arange(4.).share_memory_()
    u = pickle.loads(pickle.dumps(t))
    u.add_(1)
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0] and not u.is_shared()


def ranked(i, out_dir, fail_on):
    if i == fail_on:
        raise ValueError(f"rank {i} failed")
    with open(os.path.join(out_dir, f"{i}.txt"), "w") as fh:
        fh.write(str(i * i))


def exit_with(i, code):
    sys.exit(code)


@pytest.mark.forks
def test_spawn_runs_fn_with_its_rank(tmp_path):
    assert emp.spawn(ranked, args=(str(tmp_path), -1), nprocs=3) is None
    assert sorted(os.listdir(tmp_path)) == ["0.txt", "1.txt", "2.txt"]
    assert (tmp_path / "2.txt").read_text() == "4"
    ctx = emp.spawn(ranked, args=(str(tmp_path), -1), nprocs=2, join=False, start_method="fork")
    assert len(ctx.pids()) == 2
    while not ctx.join():
        pass


@pytest.mark.forks
def test_spawn_errors_as_torch(tmp_path):
    import torch.multiprocessing as tmp
    with pytest.raises(emp.ProcessRaisedException) as e:
        emp.spawn(ranked, args=(str(tmp_path), 1), nprocs=2, start_method="fork")
    assert e.value.error_index == 1 and "ValueError: rank 1 failed" in str(e.value)
    assert str(e.value).startswith("\n\n-- Process 1 terminated with the following error:\nTraceback")
    with pytest.raises(emp.ProcessExitedException, match="process 0 terminated with exit code 3") as e:
        emp.spawn(exit_with, args=(3,), nprocs=1, start_method="fork")
    assert e.value.exit_code == 3
    assert issubclass(emp.ProcessRaisedException, Exception)
    assert set(tmp.__all__) <= set(emp.__all__) | {"init_reductions"}


def test_sharing_strategies_as_torch():
    import torch.multiprocessing as tmp
    assert emp.get_all_sharing_strategies() == tmp.get_all_sharing_strategies()
    assert emp.get_sharing_strategy() == tmp.get_sharing_strategy() == "file_descriptor"
    emp.set_sharing_strategy("file_system")
    assert emp.get_sharing_strategy() == "file_system"
    emp.set_sharing_strategy("file_descriptor")
    with pytest.raises(AssertionError):
        emp.set_sharing_strategy("carrier pigeon")


@pytest.mark.forks
def test_torch_hogwild_program_runs_under_ember(tmp_path):
    prog = tmp_path / "hogwild.py"
    prog.write_text(textwrap.dedent("""
        import torch
        import torch.multiprocessing as mp

        def train(model, rank):
            opt = torch.optim.SGD(model.parameters(), lr=0.05)
            x = torch.linspace(-1, 1, 32).reshape(-1, 1)
            y = 3 * x - 2
            for _ in range(200):
                opt.zero_grad()
                torch.nn.functional.mse_loss(model(x), y).backward()
                opt.step()

        if __name__ == "__main__":
            model = torch.nn.Linear(1, 1)
            with torch.no_grad():
                model.weight.zero_()
                model.bias.zero_()
            model.share_memory()
            procs = [mp.Process(target=train, args=(model, r)) for r in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            print(round(model.weight.item(), 2), round(model.bias.item(), 2))
    """))
    want = subprocess.run([sys.executable, str(prog)], capture_output=True, text=True, timeout=120)
    got = subprocess.run([sys.executable, "-m", "ember", str(prog)], capture_output=True, text=True, timeout=120)
    assert want.returncode == 0 and got.returncode == 0, got.stderr
    assert got.stdout == want.stdout == "3.0 -2.0\n"
