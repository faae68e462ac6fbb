"""torch.nn.utils.rnn: PackedSequence and the pad / pack helpers, with torch's semantics."""
from collections import namedtuple

from ... import _C
from ..._factories import arange, tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]

_PackedSequenceBase = namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


def invert_permutation(permutation):
    if permutation is None:
        return None
    out = _C._zeros([permutation.numel()], _C.dtype.int64)
    return out.scatter(0, permutation, arange(permutation.numel()))


class PackedSequence(_PackedSequenceBase):
    """data: the time steps' active rows, concatenated; batch_sizes (int64, on the CPU): the rows of each
    step; sorted_indices / unsorted_indices: the permutation to length order and back (or None)."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is not None:
            return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)
        data, batch_sizes = data  # (data, batch_sizes) as the first argument, as torch allows
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(data, self.batch_sizes, self.sorted_indices,
                                                          self.unsorted_indices)

    def cpu(self):
        return self

    def double(self):
        return self.to(dtype=_C.dtype.float64)

    def float(self):
        return self.to(dtype=_C.dtype.float32)

    @property
    def is_cuda(self):
        return False

    def is_pinned(self):
        return False


def _lengths_list(lengths):
    if isinstance(lengths, _C.Tensor):
        if lengths.dim() != 1:
            raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {lengths.dim()}D "
                               f"{str(lengths.dtype).split('.')[-1]} tensor")
        return [int(v) for v in lengths.tolist()]
    return [int(v) for v in lengths]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    lens = _lengths_list(lengths)
    if enforce_sorted:
        if any(lens[i] < lens[i + 1] for i in range(len(lens) - 1)):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                               "sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
        order = list(range(len(lens)))
    else:
        order = sorted(range(len(lens)), key=lambda i: -lens[i])  # stable, as torch's sort of lengths
        sorted_indices = tensor(order, dtype=_C.dtype.int64)
    if batch_first:
        input = input.transpose(0, 1)
    n = input.shape[1]
    if len(lens) != n:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} (batch_size={n})")
    if lens and min(lens) <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that is "
                           "<= 0")
    if lens and max(lens) > input.shape[0]:
        raise RuntimeError(f"Expected sequence length to be smaller than or equal to the input's time dimension "
                           f"{input.shape[0]}, got {max(lens)}")
    if sorted_indices is not None:
        input = input.index_select(1, sorted_indices)
    slens = [lens[i] for i in order]
    steps, sizes = [], []
    for t in range(slens[0] if slens else 0):
        bs = sum(1 for v in slens if v > t)
        steps.append(input[t, :bs])
        sizes.append(bs)
    data = _C.cat(steps, 0)
    return PackedSequence(data, tensor(sizes, dtype=_C.dtype.int64), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    data, batch_sizes = sequence.data, [int(v) for v in sequence.batch_sizes.tolist()]
    max_len = len(batch_sizes)
    if total_length is not None:
        if total_length < max_len:
            raise ValueError(f"Expected total_length to be at least the length of the longest sequence in input, but "
                             f"got total_length={total_length} and max sequence length being {max_len}")
    else:
        total_length = max_len
    n = batch_sizes[0] if batch_sizes else 0
    rows, off = [], 0
    for bs in batch_sizes:
        step = data[off:off + bs]
        if bs < n:
            step = _C.cat([step, _C._full([n - bs, *data.shape[1:]], padding_value, data.dtype)], 0)
        rows.append(step)
        off += bs
    for _ in range(total_length - max_len):
        rows.append(_C._full([n, *data.shape[1:]], padding_value, data.dtype))
    out = _C.stack(rows, 0)
    lengths = [sum(1 for bs in batch_sizes if bs > i) for i in range(n)]
    lengths_t = tensor(lengths, dtype=_C.dtype.int64)
    if sequence.unsorted_indices is not None:
        out = out.index_select(1, sequence.unsorted_indices)
        lengths_t = lengths_t.index_select(0, sequence.unsorted_indices)
    if batch_first:
        out = out.transpose(0, 1)
    return out, lengths_t


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, _C.Tensor):
        sequences = sequences.unbind(0)
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    max_len = max(s.shape[0] for s in sequences)
    trailing = list(sequences[0].shape[1:])
    padded = []
    for s in sequences:
        extra = max_len - s.shape[0]
        if extra:
            fill = _C._full([extra, *trailing], padding_value, s.dtype)
            s = _C.cat([s, fill] if padding_side == "right" else [fill, s], 0)
        padded.append(s)
    return _C.stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :n] for i, n in enumerate(_lengths_list(lengths))]


def pack_sequence(sequences, enforce_sorted=True):
    lengths = tensor([s.shape[0] for s in sequences], dtype=_C.dtype.int64)
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
