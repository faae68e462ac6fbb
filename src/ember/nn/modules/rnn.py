"""RNN / LSTM / GRU (multi-layer, bidirectional, batch_first, dropout between layers, LSTM proj_size,
PackedSequence inputs) and the single-step cells, with torch's parameter names, layout, init, checks
and reprs, so a torch state_dict loads unchanged.

Each layer and direction projects the whole input sequence at once (one linear over all time steps);
the recurrence over the steps is one C++ op with one backward node (`_C._rnn_layer`,
cpp/ember/ops/rnn.cpp). Packed sequences are sorted by length: at step t only the first
batch_sizes[t] rows are live, and the others keep their state. The cells compose ember ops."""
import math
import numbers
import warnings

from ... import _C
from ..._factories import get_default_dtype
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_MODE_CODES = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}  # ember::RnnMode


def _lstm_step(gates, c, w_hr):
    i, f, g, o = gates.chunk(4, -1)
    c = i.sigmoid() * g.tanh() + f.sigmoid() * c
    h = o.sigmoid() * c.tanh()
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _gru_step(gi, h, w_hh, b_hh):
    gh = F.linear(h, w_hh, b_hh)
    ir, iz, in_ = gi.chunk(3, -1)
    hr, hz, hn = gh.chunk(3, -1)
    r = (ir + hr).sigmoid()
    z = (iz + hz).sigmoid()
    n = (in_ + r * hn).tanh()
    return n + z * (h - n)  # (1 - z) * n + z * h


class RNNBase(Module):
    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        if (not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool)):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element "
                             "being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          stacklevel=2)
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        gate_size = _GATES[mode] * hidden_size
        dtype = dtype or get_default_dtype()
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                real_hidden_size = proj_size if proj_size > 0 else hidden_size
                layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
                suffix = "_reverse" if direction == 1 else ""
                names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
                shapes = [[gate_size, layer_input_size], [gate_size, real_hidden_size]]
                if bias:
                    names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
                    shapes += [[gate_size], [gate_size]]
                if proj_size > 0:
                    names.append(f"weight_hr_l{layer}{suffix}")
                    shapes.append([proj_size, hidden_size])
                for name, shape in zip(names, shapes):
                    setattr(self, name, Parameter(_C._empty(shape, dtype)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def flatten_parameters(self):
        """torch packs the weights for cuDNN here; on the CPU there is nothing to do."""

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    def __setstate__(self, state):
        super().__setstate__(state)
        if "proj_size" not in self.__dict__:
            self.proj_size = 0

    # ---- checks (torch's messages)
    def _name(self):
        return {"LSTM": "LSTM", "GRU": "GRU"}.get(self.mode, "RNN")

    def check_input(self, input, batch_sizes):
        expected_input_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_input_dim:
            raise RuntimeError(f"input must have {expected_input_dim} dimensions, got {input.dim()}")
        if self.input_size != input.shape[-1]:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{input.shape[-1]}")

    def get_expected_hidden_size(self, input, batch_sizes):
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.shape[0] if self.batch_first else input.shape[1]
        num_directions = 2 if self.bidirectional else 1
        h = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * num_directions, mini_batch, h)

    def check_hidden_size(self, hx, expected_hidden_size, msg="Expected hidden size {}, got {}"):
        if tuple(hx.shape) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(expected_hidden_size, list(hx.shape)))

    # ---- the recurrence
    def _run(self, x, batch_sizes, h0, c0):
        """x: (T, N, F) time-major, or packed data (sum(batch_sizes), F). Returns (output, h_n, c_n)."""
        num_directions = 2 if self.bidirectional else 1
        sizes = [int(v) for v in batch_sizes.tolist()] if batch_sizes is not None else None
        hs, cs = [], []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(num_directions):
                k = layer * num_directions + d
                names = self._all_weights[k]
                w_ih, w_hh = getattr(self, names[0]), getattr(self, names[1])
                b_ih = getattr(self, names[2]) if self.bias else None
                b_hh = getattr(self, names[3]) if self.bias else None
                w_hr = getattr(self, names[-1]) if self.proj_size > 0 else None
                xw = F.linear(layer_in, w_ih, b_ih)  # every step's input projection in one product
                # the recurrence over all steps: one C++ op and one backward node (cpp/ember/ops/rnn.cpp)
                out_d, h, c = _C._rnn_layer(_MODE_CODES[self.mode], xw, h0[k], c0[k] if c0 is not None else None,
                                            w_hh, b_hh, w_hr, d == 1, sizes or [])
                outs.append(out_d)
                hs.append(h)
                if self.mode == "LSTM":
                    cs.append(c)
            layer_out = outs[0] if num_directions == 1 else _C.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_out = F.dropout(layer_out, self.dropout, True)
            layer_in = layer_out
        return layer_in, _C.stack(hs, 0), (_C.stack(cs, 0) if self.mode == "LSTM" else None)

    def _forward(self, input, hx):
        is_lstm = self.mode == "LSTM"
        num_directions = 2 if self.bidirectional else 1
        packed = isinstance(input, PackedSequence)
        if packed:
            x, batch_sizes, sorted_indices, unsorted_indices = input
            max_batch = int(batch_sizes[0])
            unbatched = False
        else:
            batch_sizes, sorted_indices, unsorted_indices = None, None, None
            if input.dim() not in (2, 3):
                raise ValueError(f"{self._name()}: Expected input to be 2D or 3D, got {input.dim()}D input instead")
            unbatched = input.dim() == 2
            x = input.unsqueeze(1) if unbatched else input
            if self.batch_first and not unbatched:
                x = x.transpose(0, 1)
            max_batch = x.shape[1]
        h_out = self.proj_size if self.proj_size > 0 else self.hidden_size
        if hx is None:
            h0 = _C._zeros([self.num_layers * num_directions, max_batch, h_out], x.dtype)
            c0 = _C._zeros([self.num_layers * num_directions, max_batch, self.hidden_size], x.dtype) if is_lstm \
                else None
        else:
            if is_lstm:
                h0, c0 = hx[0], hx[1]  # as torch: a single tensor is indexed (IndexError, or 2-D states below)
            else:
                h0, c0 = hx, None
            if unbatched:
                for t in (h0, c0):
                    if t is not None and t.dim() != 2:
                        raise RuntimeError(f"For unbatched 2-D input, hx and cx should also be 2-D but got "
                                           f"({h0.dim()}-D, {c0.dim() if c0 is not None else h0.dim()}-D) tensors"
                                           if is_lstm else f"For unbatched 2-D input, hx should also be 2-D but got "
                                           f"{h0.dim()}-D tensor")
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
            elif not packed:
                for t in (h0, c0):
                    if t is not None and t.dim() != 3:
                        raise RuntimeError(f"For batched 3-D input, hx and cx should also be 3-D but got "
                                           f"({h0.dim()}-D, {c0.dim()}-D) tensors" if is_lstm else
                                           f"For batched 3-D input, hx should also be 3-D but got {h0.dim()}-D tensor")
            if sorted_indices is not None:
                h0 = h0.index_select(1, sorted_indices)
                c0 = c0.index_select(1, sorted_indices) if c0 is not None else None
        self.check_input(x, batch_sizes)
        expected = self.get_expected_hidden_size(x, batch_sizes) if packed else \
            (self.num_layers * num_directions, x.shape[1], h_out)
        self.check_hidden_size(h0, expected, "Expected hidden[0] size {}, got {}" if is_lstm else
                               "Expected hidden size {}, got {}")
        if is_lstm:
            self.check_hidden_size(c0, (expected[0], expected[1], self.hidden_size),
                                   "Expected hidden[1] size {}, got {}")
        out, hn, cn = self._run(x, batch_sizes, h0, c0)
        if packed:
            out = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
            if unsorted_indices is not None:
                hn = hn.index_select(1, unsorted_indices)
                cn = cn.index_select(1, unsorted_indices) if cn is not None else None
        else:
            if self.batch_first and not unbatched:
                out = out.transpose(0, 1)
            if unbatched:
                out = out.squeeze(1)
                hn = hn.squeeze(1)
                cn = cn.squeeze(1) if cn is not None else None
        return out, ((hn, cn) if is_lstm else hn)

    def forward(self, input, hx=None):
        return self._forward(input, hx)


class RNN(RNNBase):
    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self_nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self_nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self_nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self_nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self_nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = self_nonlinearity


class LSTM(RNNBase):
    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# --------------------------------------------------------------------------- cells

class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        dtype = dtype or get_default_dtype()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(_C._empty([num_chunks * hidden_size, input_size], dtype))
        self.weight_hh = Parameter(_C._empty([num_chunks * hidden_size, hidden_size], dtype))
        if bias:
            self.bias_ih = Parameter(_C._empty([num_chunks * hidden_size], dtype))
            self.bias_hh = Parameter(_C._empty([num_chunks * hidden_size], dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _prepare(self, input, hx, name, n_states=1):
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hx is not None:
            for h in (hx if isinstance(hx, tuple) else (hx,)):
                if h.dim() not in (1, 2):
                    raise ValueError(f"{name}: Expected hidden to be 1D or 2D, got {h.dim()}D instead")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} expected {self.input_size}")
        if hx is None:
            z = _C._zeros([input.shape[0], self.hidden_size], input.dtype)
            hx = (z, z) if n_states == 2 else z
        elif not batched:
            hx = tuple(h.unsqueeze(0) for h in hx) if isinstance(hx, tuple) else hx.unsqueeze(0)
        for h in (hx if isinstance(hx, tuple) else (hx,)):
            if h.shape[0] != input.shape[0]:
                raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden0 batch size {h.shape[0]}")
            if h.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden0 has inconsistent hidden_size: got {h.shape[1]}, expected "
                                   f"{self.hidden_size}")
        return input, hx, batched


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        x, h, batched = self._prepare(input, hx, "RNNCell")
        pre = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)
        out = pre.tanh() if self.nonlinearity == "tanh" else F.relu(pre)
        return out if batched else out.squeeze(0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None and not isinstance(hx, (tuple, list)):
            raise TypeError(f"lstm_cell(): argument 'hx' (position 2) must be tuple of Tensors, not "
                            f"{type(hx).__name__}")
        if hx is not None and len(hx) != 2:
            raise RuntimeError(f"LSTMCell: Expected hx to be a tuple of (h_0, c_0), got {len(hx)} tensors")
        x, (h, c), batched = self._prepare(input, tuple(hx) if hx is not None else None, "LSTMCell", 2)
        gates = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)
        h, c = _lstm_step(gates, c, None)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, h, batched = self._prepare(input, hx, "GRUCell")
        out = _gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return out if batched else out.squeeze(0)
