"""minigrad.utils.data: datasets, samplers, collation and the DataLoader, against PyTorch's
behaviour (and torch.utils.data itself where torch is installed)."""

from __future__ import annotations

import collections
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import minigrad as mg
import minigrad.data as D
from minigrad.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

# The folder holding the minigrad these tests imported (the installed package, or a checkout
# built in place), for child interpreters: a checkout's own minigrad has no built extensions.
REPO = pathlib.Path(mg.__file__).resolve().parents[1]


class _NumpyBackedGenerator:
    """Stands in for mg.Generator where this branch does not have it yet: the loader only
    needs ``numpy_generator()``."""

    def __init__(self):
        self._rng = np.random.default_rng()

    def manual_seed(self, seed):
        self._rng = np.random.default_rng(seed)
        return self

    def numpy_generator(self):
        return self._rng


Generator = getattr(mg, "Generator", _NumpyBackedGenerator)


class OneAtATime(Dataset):
    """A dataset as PyTorch users write them: one int index at a time. Indexing it with
    an array raises ValueError (the truth value of an array), as such datasets do."""

    def __init__(self, n):
        self.n = n
        self.seen_types = set()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.seen_types.add(type(i))
        if i < 0 or i >= self.n:
            raise IndexError(i)
        return np.full(3, i, dtype=np.float32), i


# ----------------------------------------------------------------------------- the DataLoader


def test_batches_are_tensors_that_behave_like_pytorchs():
    loader = DataLoader(D.Digits(), batch_size=32, shuffle=True)
    x, y = next(iter(loader))
    assert isinstance(x, mg.Tensor) and isinstance(y, mg.Tensor)
    assert x.dtype == np.float32 and x.shape == (32, 1, 8, 8)
    assert y.dtype == np.int64 and y.shape == (32,)
    assert x.view(-1, 64).shape == (32, 64)  # mnist/main.py and vae/main.py do this
    assert len(loader) == -(-1797 // 32) and len(loader.dataset) == 1797


@pytest.mark.parametrize("workers", [0, 2])
def test_a_dataset_indexed_one_example_at_a_time_works(workers):
    ds = OneAtATime(10)
    batches = list(DataLoader(ds, batch_size=4, num_workers=workers))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].dtype == np.float32 and batches[0][0].shape == (4, 3)
    assert ds.seen_types == {int}  # Python ints, as PyTorch's samplers give


@pytest.mark.parametrize(
    "n, bs, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True), (5, 8, False)]
)
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("fast", [False, True])
def test_every_example_once_per_epoch(n, bs, drop_last, shuffle, fast):
    ds = TensorDataset(mg.arange(n), mg.arange(n) * 10) if fast else OneAtATime(n)
    loader = DataLoader(ds, batch_size=bs, shuffle=shuffle, drop_last=drop_last)
    seen = []
    batches = list(loader)
    assert len(batches) == len(loader)
    for _, b in batches:
        if drop_last:
            assert len(b) == bs
        seen.extend(np.asarray(b).tolist())
    if drop_last:
        assert len(seen) == (n // bs) * bs and len(set(seen)) == len(seen)
    else:
        assert (
            sorted(seen) == list(range(n))
            if not fast
            else sorted(seen) == list(range(0, 10 * n, 10))
        )
    if not shuffle:
        assert seen == sorted(seen)


def test_the_batch_fast_path_gives_what_item_by_item_gives():
    ds = D.Digits()
    order = np.random.default_rng(0).permutation(len(ds))[:50]
    sampler = BatchSampler(order.tolist(), 16, False)
    fast = list(DataLoader(ds, batch_sampler=sampler))
    slow = list(DataLoader(ds, batch_sampler=sampler, collate_fn=default_collate))
    assert len(fast) == len(slow) == 4
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert xf.dtype == xs.dtype and yf.dtype == ys.dtype
        np.testing.assert_array_equal(xf.numpy(), xs.numpy())
        np.testing.assert_array_equal(yf.numpy(), ys.numpy())


def test_fast_path_only_by_declaration_and_default_collate():
    class Counting(TensorDataset):
        calls = 0

        def get_batch(self, indices):
            Counting.calls += 1
            return super().get_batch(indices)

    ds = Counting(mg.arange(6))
    list(DataLoader(ds, batch_size=2))
    assert Counting.calls == 3
    got = list(DataLoader(ds, batch_size=2, collate_fn=lambda items: items))
    assert Counting.calls == 3  # a custom collate_fn receives the items themselves
    assert len(got[0]) == 2 and isinstance(got[0][0], tuple)
    assert not hasattr(Subset(OneAtATime(4), [0, 1]), "get_batch")
    assert hasattr(Subset(ds, [0, 1]), "get_batch")


def test_getitems_protocol():
    class Batched(Dataset):
        def __len__(self):
            return 5

        def __getitems__(self, indices):
            return [(float(i), i) for i in indices]

    x, y = next(iter(DataLoader(Batched(), batch_size=5)))
    assert x.dtype == np.float64 and y.tolist() == [0, 1, 2, 3, 4]


def test_no_batching_with_batch_size_none():
    ds = TensorDataset(np.arange(6, dtype=np.float32).reshape(3, 2), np.arange(3))
    items = list(DataLoader(ds, batch_size=None))
    assert len(items) == 3 and isinstance(items[0], list)
    assert isinstance(items[0][0], mg.Tensor) and items[0][0].shape == (2,)


def test_samplers_and_batch_samplers_plug_in():
    ds = OneAtATime(10)
    loader = DataLoader(ds, batch_size=3, sampler=[9, 8, 7, 6, 5])
    assert [b[1].tolist() for b in loader] == [[9, 8, 7], [6, 5]]
    loader = DataLoader(ds, batch_sampler=[[1, 2], [5], [0, 0]])
    assert [b[1].tolist() for b in loader] == [[1, 2], [5], [0, 0]] and len(loader) == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_sampler=[[0]], batch_size=2), "mutually exclusive"),
        (dict(batch_sampler=[[0]], shuffle=True), "mutually exclusive"),
        (dict(batch_sampler=[[0]], drop_last=True), "mutually exclusive"),
        (dict(sampler=[0, 1], shuffle=True), "mutually exclusive with shuffle"),
        (dict(batch_size=None, drop_last=True), "batch_size=None"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=2.0), "batch_size"),
        (dict(num_workers=-1), "num_workers"),
        (dict(prefetch_factor=2), "prefetch_factor"),
        (dict(num_workers=1, prefetch_factor=0), "prefetch_factor"),
        (dict(persistent_workers=True), "persistent_workers"),
        (dict(timeout=-1), "timeout"),
        (dict(multiprocessing_context="spawn"), "threads"),
    ],
)
def test_arguments_pytorch_refuses_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(OneAtATime(4), **kwargs)


def test_wrong_generator_type_is_refused():
    with pytest.raises(TypeError, match="Generator"):
        DataLoader(OneAtATime(4), shuffle=True, generator=np.random.default_rng(0))


def test_pin_memory_warns_as_pytorch_does_without_an_accelerator():
    with pytest.warns(UserWarning, match="no accelerator"):
        loader = DataLoader(OneAtATime(4), batch_size=2, pin_memory=True)
    assert len(list(loader)) == 2


def test_settings_cannot_change_after_construction():
    loader = DataLoader(OneAtATime(4), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        loader.batch_size = 3


# ----------------------------------------------------------------------------- seeding

_SEEDED_SCRIPT = """
import sys
sys.path.insert(0, {repo!r})
import minigrad as mg
from minigrad.utils.data import DataLoader, TensorDataset
{seed}
loader = DataLoader(TensorDataset(mg.arange(40)), batch_size=8, shuffle=True)
for epoch in range(2):
    print([b[0].tolist() for b in loader])
"""


def _run(seed_line: str) -> list:
    code = _SEEDED_SCRIPT.format(repo=str(REPO), seed=seed_line)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_a_seeded_script_sees_the_same_batches_every_run():
    first, second = _run("mg.manual_seed(7)"), _run("mg.manual_seed(7)")
    assert first == second  # two runs (two processes) of the same seeded script
    assert first[0] != first[1]  # a new order each epoch
    assert _run("mg.manual_seed(8)") != first  # the seed matters
    assert _run("") != _run("")  # and without one, runs differ (the test can fail)


def test_shuffling_follows_manual_seed_and_generator():
    ds = TensorDataset(mg.arange(30))

    def epoch(loader):
        return np.concatenate([b[0].numpy() for b in loader]).tolist()

    mg.manual_seed(3)
    a = epoch(DataLoader(ds, batch_size=7, shuffle=True))
    mg.manual_seed(3)
    b = epoch(DataLoader(ds, batch_size=7, shuffle=True))
    assert a == b and sorted(a) == list(range(30))
    g1 = Generator().manual_seed(5)
    g2 = Generator().manual_seed(5)
    l1 = DataLoader(ds, batch_size=7, shuffle=True, generator=g1)
    l2 = DataLoader(ds, batch_size=7, shuffle=True, generator=g2)
    e1, e2 = epoch(l1), epoch(l1)
    assert e1 == epoch(l2) and e1 != e2
    # a generator makes the order independent of the global state
    mg.manual_seed(99)
    assert (
        epoch(DataLoader(ds, batch_size=7, shuffle=True, generator=Generator().manual_seed(5)))
        == e1
    )


def test_random_split_follows_pytorch():
    ds = OneAtATime(10)
    parts = random_split(ds, [0.3, 0.3, 0.4], generator=Generator().manual_seed(0))
    assert [len(p) for p in parts] == [3, 3, 4]
    parts = random_split(ds, [0.25, 0.25, 0.5])  # 2.5 / 2.5 / 5: the remainder to the first
    assert [len(p) for p in parts] == [3, 2, 5]
    torch = pytest.importorskip("torch")
    want = [len(p) for p in torch.utils.data.random_split(range(10), [0.25, 0.25, 0.5])]
    assert want == [3, 2, 5]
    idx = np.concatenate([p.indices for p in parts])
    assert sorted(idx.tolist()) == list(range(10))
    a = random_split(ds, [4, 6], generator=Generator().manual_seed(1))
    b = random_split(ds, [4, 6], generator=Generator().manual_seed(1))
    assert a[0].indices.tolist() == b[0].indices.tolist()
    with pytest.raises(ValueError, match="sum of input lengths"):
        random_split(ds, [4, 5])
    with pytest.warns(UserWarning, match="length of split at index 1 is 0"):
        random_split(OneAtATime(10), [0.95, 0.05])


# ----------------------------------------------------------------------------- samplers


def test_sequential_and_random_samplers():
    ds = OneAtATime(20)
    assert list(SequentialSampler(ds)) == list(range(20))
    perm = list(RandomSampler(ds, generator=Generator().manual_seed(0)))
    assert sorted(perm) == list(range(20)) and perm != list(range(20))
    chained = list(RandomSampler(ds, num_samples=45, generator=Generator().manual_seed(0)))
    counts = collections.Counter(chained)
    assert len(chained) == 45 and set(counts.values()) == {2, 3}  # two permutations and 5
    drawn = list(RandomSampler(ds, replacement=True, num_samples=1000))
    assert len(drawn) == 1000 and set(drawn) <= set(range(20)) and len(set(drawn)) == 20
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(ds, num_samples=0)
    with pytest.raises(TypeError, match="replacement"):
        RandomSampler(ds, replacement=1)


def test_subset_and_weighted_samplers():
    picked = list(SubsetRandomSampler([3, 7, 11]))
    assert sorted(picked) == [3, 7, 11]
    w = WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=Generator().manual_seed(0))
    counts = np.bincount(list(w), minlength=3)
    assert counts[0] == 0 and abs(counts[2] / counts[1] - 3) < 0.4
    assert sorted(WeightedRandomSampler([1, 1, 0, 1], 3, replacement=False)) == [0, 1, 3]
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1, 0], 2, replacement=False)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1, -1], 2)


def test_batch_sampler():
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(range(7), 0, False)
    with pytest.raises(ValueError, match="drop_last"):
        BatchSampler(range(7), 2, None)


def test_a_sampler_with_set_epoch_drives_the_order():
    # DistributedSampler's protocol: an iterable of indices with __len__ and set_epoch
    class EveryOther:
        def __init__(self, n):
            self.n, self.epoch = n, 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __iter__(self):
            return iter(range(self.epoch % 2, self.n, 2))

        def __len__(self):
            return self.n // 2

    sampler = EveryOther(8)
    loader = DataLoader(OneAtATime(8), batch_size=2, sampler=sampler)
    assert [b[1].tolist() for b in loader] == [[0, 2], [4, 6]]
    sampler.set_epoch(1)
    assert [b[1].tolist() for b in loader] == [[1, 3], [5, 7]] and len(loader) == 2


# ----------------------------------------------------------------------------- collation


def test_default_collate_matches_pytorch():
    torch = pytest.importorskip("torch")
    Point = collections.namedtuple("Point", "x y")
    batch = [
        (
            np.ones((2, 3), np.float32) * i,
            i,
            0.5 * i,
            True,
            np.int16(i),
            "s",
            {"k": np.float64(i)},
            Point(i, 2.0),
        )
        for i in range(3)
    ]
    ours = default_collate(batch)
    theirs = torch.utils.data.default_collate(batch)
    assert type(ours) is type(theirs) is list and len(ours) == len(theirs)

    def same(a, b):
        if isinstance(b, torch.Tensor):
            assert isinstance(a, mg.Tensor)
            assert np.dtype(a.dtype) == b.numpy().dtype, (a.dtype, b.dtype)
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        elif isinstance(b, dict):
            assert type(a) is type(b) and a.keys() == b.keys()
            for k in b:
                same(a[k], b[k])
        elif isinstance(b, (list, tuple)):
            assert type(a) is type(b) and len(a) == len(b)
            for u, v in zip(a, b):
                same(u, v)
        else:
            assert a == b

    same(ours, theirs)


def test_default_collate_refuses_what_pytorch_refuses():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="numpy arrays"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="numpy arrays"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_default_convert():
    out = default_convert((np.arange(3), {"a": np.float32(1)}, "text", 4))
    assert isinstance(out, list) and isinstance(out[0], mg.Tensor)
    assert isinstance(out[1]["a"], mg.Tensor) and out[2:] == ["text", 4]


def test_collating_tensors_that_require_grad_keeps_the_graph():
    w = mg.tensor(np.ones(3), requires_grad=True)
    batch = default_collate([w * 2, w * 3])
    batch.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full(3, 5.0))


# ----------------------------------------------------------------------------- datasets


def test_tensor_dataset():
    x, y = mg.randn(5, 2), mg.arange(5)
    ds = TensorDataset(x, y)
    assert len(ds) == 5 and ds[2][1].item() == 2
    np.testing.assert_array_equal(ds[2][0].numpy(), x.numpy()[2])
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(mg.randn(5, 2), mg.arange(4))


def test_subset_indexing():
    ds = OneAtATime(10)
    sub = Subset(ds, [9, 3, 5])
    assert len(sub) == 3 and sub[0][1] == 9 and sub[-1][1] == 5
    nested = Subset(Subset(D.Digits(), np.arange(100, 200)), [0, 5])
    x, y = nested[np.array([1, 0])]
    np.testing.assert_array_equal(y, D.Digits().targets[[105, 100]])
    with pytest.raises(TypeError, match="integer"):
        Subset(ds, [0.5, 1.0])


def test_concat_dataset():
    a, b = OneAtATime(3), OneAtATime(2)
    both = a + b
    assert isinstance(both, ConcatDataset) and len(both) == 5
    assert [both[i][1] for i in range(5)] == [0, 1, 2, 0, 1] and both[-1][1] == 1
    with pytest.raises(IndexError):
        both[5]
    with pytest.raises(IndexError):
        both[-6]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])
    assert len(list(DataLoader(both, batch_size=2))) == 3


def test_importable_where_pytorch_users_look():
    import minigrad.utils.data as tud

    assert mg.utils.data is tud
    assert D.DataLoader is tud.DataLoader and D.Subset is tud.Subset
    from minigrad.data import datasets, transforms

    assert datasets.MNIST is D.MNIST and transforms.ToTensor is D.ToTensor


# ----------------------------------------------------------------------------- worker threads


@pytest.mark.parametrize("shuffle", [False, True])
def test_workers_give_the_batches_of_no_workers(shuffle):
    ds = TensorDataset(mg.arange(50), mg.arange(50) * 2)

    def run(workers):
        g = Generator().manual_seed(11)
        loader = DataLoader(ds, batch_size=6, shuffle=shuffle, num_workers=workers, generator=g)
        return [[t.tolist() for t in b] for b in loader]

    assert run(2) == run(0)


def test_workers_prefetch_while_the_loop_works():
    fetched = threading.Event()

    class Watch(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            if i == 4:  # the first example of the second batch
                fetched.set()
            return i

    it = iter(DataLoader(Watch(), batch_size=4, num_workers=1))
    first = next(it)
    # the loop holds batch 0; a worker fetches batch 1 meanwhile
    assert fetched.wait(timeout=10) and first.tolist() == [0, 1, 2, 3]
    assert next(it).tolist() == [4, 5, 6, 7]


def test_worker_init_fn_and_worker_info():
    ids, infos = [], []
    lock = threading.Lock()

    def init(worker_id):
        with lock:
            ids.append(worker_id)

    class Info(Dataset):
        def __len__(self):
            return 12

        def __getitem__(self, i):
            info = get_worker_info()
            with lock:
                infos.append((info.id, info.num_workers, info.seed - info.id))
            time.sleep(0.002)  # let both threads take work
            return i

    out = [b.tolist() for b in DataLoader(Info(), batch_size=2, num_workers=2, worker_init_fn=init)]
    assert out == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    assert sorted(ids) == sorted(set(ids)) and set(ids) <= {0, 1} and ids
    assert {i for i, _, _ in infos} <= {0, 1} and {n for _, n, _ in infos} == {2}
    assert len({base for _, _, base in infos}) == 1  # one base seed per epoch
    assert get_worker_info() is None  # in the main thread


def test_worker_errors_reach_the_loop_and_threads_end():
    before = threading.active_count()

    class Broken(Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            if i == 5:
                raise KeyError("example 5 is broken")
            return i

    with pytest.raises(KeyError, match="example 5"):
        list(DataLoader(Broken(), batch_size=2, num_workers=2))
    it = iter(DataLoader(OneAtATime(100), batch_size=2, num_workers=2))
    next(it)
    it.close()  # leaving a loop early (break) closes the iterator
    deadline = time.time() + 10
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before


def test_persistent_workers_keep_their_threads():
    names = set()

    class Where(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            names.add(threading.get_ident())
            return i

    loader = DataLoader(Where(), batch_size=2, num_workers=1, persistent_workers=True)
    for _ in range(3):
        assert [b.tolist() for b in loader] == [[0, 1], [2, 3]]
    assert len(names) == 1


def test_timeout_waiting_for_a_worker():
    class Slow(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(0.5)
            return i

    with pytest.raises(RuntimeError, match="timed out after 0.05 seconds"):
        list(DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.05))
