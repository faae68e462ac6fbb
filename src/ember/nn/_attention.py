"""Attention: scaled_dot_product_attention and multi_head_attention_forward with torch's semantics
(torch.nn.functional's math path), composed of differentiable ember ops (matmul, softmax, masked_fill,
linear, dropout), so the gradients come from ember's C++ autograd. functional.py re-exports both; this
module imports functional lazily (functional imports this module at its end)."""
import math
import warnings

from .. import _C, _factories

Tensor = _C.Tensor
_NEG_INF = float("-inf")

# the C++ type names torch's SDPA messages use
_CPP_TYPE_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
                   "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
                   "uint8": "unsigned char", "bool": "bool"}


def _F():
    from . import functional
    return functional


def _cpp_name(dtype):
    return _CPP_TYPE_NAMES.get(dtype.name, dtype.name)


def _bool_to_additive(mask, dtype):
    """A boolean mask (True = attend) as the additive float mask torch makes: 0 where True, -inf where False."""
    return _factories.zeros_like(mask, dtype=dtype).masked_fill_(mask.logical_not(), _NEG_INF)


def _safe_softmax(scores):
    """torch's _safe_softmax: a softmax over the last dim whose rows that are all -inf (nothing to attend to)
    are 0 instead of NaN, with a zero gradient there (the scores of those rows are replaced by 0 first, so no
    NaN enters the backward)."""
    dead = scores.isneginf().all(-1, keepdim=True)
    if not bool(dead.any()):
        return _C.softmax(scores, -1)
    return _C.softmax(scores.masked_fill(dead, 0.0), -1).masked_fill(dead, 0.0)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value over the last two dims, any leading batch dims
    (broadcast as matmul does). A boolean attn_mask is True where a query may attend; a float mask is added
    to the scores. is_causal masks the upper-left causal triangle (query i sees keys 0..i). scale defaults
    to 1/sqrt(E); enable_gqa repeats key/value heads (dim -3) to the query's number of heads. Rows with
    nothing to attend to give 0, as torch's math kernel does. dropout_p applies dropout to the weights
    always (there is no training flag, as in torch)."""
    F = _F()
    fn = "scaled_dot_product_attention"
    F._check_tensor(query, "query", fn, 1)
    F._check_tensor(key, "key", fn, 2)
    F._check_tensor(value, "value", fn, 3)
    if attn_mask is not None:
        F._check_tensor(attn_mask, "attn_mask", fn, 4)
    if not (query.dtype == key.dtype and query.dtype == value.dtype):
        raise RuntimeError("Expected query, key, and value to have the same dtype, but got query.dtype: "
                           f"{_cpp_name(query.dtype)} key.dtype: {_cpp_name(key.dtype)} and value.dtype: "
                           f"{_cpp_name(value.dtype)} instead.")
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise RuntimeError("Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: "
                           f"{query.dim()} key.dim: {key.dim()} and value.dim: {value.dim()} instead.")
    if attn_mask is not None and not (attn_mask.dtype == _C.dtype.bool or attn_mask.dtype == _C.dtype.float32
                                      or attn_mask.dtype == query.dtype):
        raise RuntimeError("Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                           f"attn_mask.dtype: {_cpp_name(attn_mask.dtype)} and  query.dtype: "
                           f"{_cpp_name(query.dtype)} instead.")
    if not query.is_floating_point():
        raise RuntimeError(f"expected scalar type Float but found {F._scalar_name(query.dtype)}")
    out_dtype = query.dtype
    if out_dtype == _C.dtype.float16 or out_dtype == _C.dtype.bfloat16:
        # as torch's math kernel: intermediates in float32, the result rounded once
        query, key, value = query.float(), key.float(), value.float()
    L, S = query.shape[-2], key.shape[-2]
    scale_factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale

    # The common case as one op and one node (cpp/ember/ops/attention.cpp): no dropout, no head repetition,
    # q, k, v with the same leading dims, a mask that needs no gradient.
    lead = tuple(query.shape[:-2])
    if (dropout_p == 0.0 and not enable_gqa and lead == tuple(key.shape[:-2]) == tuple(value.shape[:-2])
            and query.shape[-1] == key.shape[-1] and key.shape[-2] == value.shape[-2]
            and not (is_causal and attn_mask is not None)
            and (attn_mask is None or not attn_mask.requires_grad)):
        mask = attn_mask
        if mask is not None:
            if mask.dtype != _C.dtype.bool and mask.dtype != query.dtype:
                mask = mask.to(query.dtype)
            shape = lead + (L, S)
            if F._broadcast_shapes(shape, tuple(mask.shape)) != shape:  # torch adds the mask in place
                raise RuntimeError(f"output with shape {list(shape)} doesn't match the broadcast shape "
                                   f"{list(F._broadcast_shapes(shape, tuple(mask.shape)))}")
            mask = mask.expand(shape)
        out = _C._sdpa(query, key, value, mask, float(scale_factor), bool(is_causal))
        return out if out.dtype == out_dtype else out.to(out_dtype)

    bias = None
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when "
                               "is_causal=True")
        bias = _bool_to_additive(_C._ones([L, S], _C.dtype.bool).tril(), query.dtype)
    elif attn_mask is not None:
        if attn_mask.dtype == _C.dtype.bool:
            bias = _bool_to_additive(attn_mask, query.dtype)
        else:
            bias = attn_mask if attn_mask.dtype == query.dtype else attn_mask.to(query.dtype)

    if enable_gqa:
        hq = query.shape[F._wrap_dim(-3, query.dim())]
        hk = key.shape[F._wrap_dim(-3, key.dim())]
        hv = value.shape[F._wrap_dim(-3, value.dim())]
        if not (hq == hk == hv) and not (hq % hk == 0 and hq % hv == 0):
            raise RuntimeError("Number of heads in key and value must divide the number of heads in ")
        if hk != hq:
            key = key.repeat_interleave(hq // hk, -3)
        if hv != hq:
            value = value.repeat_interleave(hq // hv, -3)

    scores = (query * scale_factor) @ key.transpose(-2, -1)
    if bias is None:
        weights = _C.softmax(scores, -1)
    else:
        shape = tuple(scores.shape)
        if F._broadcast_shapes(shape, tuple(bias.shape)) != shape:  # torch adds the mask in place
            raise RuntimeError(f"output with shape {list(shape)} doesn't match the broadcast shape "
                               f"{list(F._broadcast_shapes(shape, tuple(bias.shape)))}")
        scores = scores + bias
        # a causal mask over S > 0 keys always leaves key 0: no empty row to guard against
        weights = _C.softmax(scores, -1) if is_causal and S > 0 else _safe_softmax(scores)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p, training=True)
    out = weights @ value
    return out if out.dtype == out_dtype else out.to(out_dtype)


# --------------------------------------------------------------------------- multi-head attention

def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    if query.dim() == 3:
        is_batched = True
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError("For batched (3-D) `query`, expected `key` and `value` to be 3-D"
                                 f" but found {key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError("For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D"
                                 f" but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError("For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D"
                                 f" but found {attn_mask.dim()}-D tensor instead")
    elif query.dim() == 2:
        is_batched = False
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError("For unbatched (2-D) `query`, expected `key` and `value` to be 2-D"
                                 f" but found {key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError("For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D"
                                 f" but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError("For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D"
                                     f" but found {attn_mask.dim()}-D tensor instead")
            if attn_mask.dim() == 3:
                expected_shape = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected_shape:
                    raise AssertionError(f"Expected `attn_mask` shape to be {expected_shape} but got "
                                         f"{attn_mask.shape}")
    else:
        raise AssertionError("query should be unbatched 2D or batched 3D tensor but received "
                             f"{query.dim()}-D query tensor")
    return is_batched


def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """torch's F._canonical_mask: a bool mask (True = masked out) becomes a float mask of target_type
    with -inf where True; a float mask is returned as it is; other dtypes are refused."""
    if mask is not None:
        is_float = mask.is_floating_point()
        if mask.dtype != _C.dtype.bool and not is_float:
            raise AssertionError(f"only bool and floating types of {mask_name} are supported")
        if check_other and other_type is not None and mask.dtype != other_type:
            warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. "
                          "Use same type for both instead.", stacklevel=3)
        if not is_float:
            mask = _factories.zeros_like(mask, dtype=target_type).masked_fill_(mask, _NEG_INF)
    return mask


def _none_or_dtype(input):
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or torch.Tensor")


def _in_projection_packed(q, k, v, w, b=None):
    """q, k, v projected by the packed (3E, E) weight: one product for self-attention (q is k is v), two
    for encoder-decoder attention (k is v), three otherwise."""
    F = _F()
    E = q.shape[-1]
    if k is v:
        if q is k:
            proj = F.linear(q, w, b)
            return tuple(p.contiguous() for p in proj.chunk(3, -1))
        w_q, w_kv = w.split([E, E * 2])
        b_q, b_kv = (None, None) if b is None else b.split([E, E * 2])
        kv = F.linear(k, w_kv, b_kv).chunk(2, -1)
        return F.linear(q, w_q, b_q), kv[0].contiguous(), kv[1].contiguous()
    w_q, w_k, w_v = w.chunk(3)
    b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
    return F.linear(q, w_q, b_q), F.linear(k, w_k, b_k), F.linear(v, w_v, b_v)


def _in_projection(q, k, v, w_q, w_k, w_v, b_q=None, b_k=None, b_v=None):
    F = _F()
    Eq, Ek, Ev = q.shape[-1], k.shape[-1], v.shape[-1]
    if tuple(w_q.shape) != (Eq, Eq):
        raise AssertionError(f"expecting query weights shape of {(Eq, Eq)}, but got {w_q.shape}")
    if tuple(w_k.shape) != (Eq, Ek):
        raise AssertionError(f"expecting key weights shape of {(Eq, Ek)}, but got {w_k.shape}")
    if tuple(w_v.shape) != (Eq, Ev):
        raise AssertionError(f"expecting value weights shape of {(Eq, Ev)}, but got {w_v.shape}")
    if b_q is not None and tuple(b_q.shape) != (Eq,):
        raise AssertionError(f"expecting query bias shape of {(Eq,)}, but got {b_q.shape}")
    if b_k is not None and tuple(b_k.shape) != (Eq,):
        raise AssertionError(f"expecting key bias shape of {(Eq,)}, but got {b_k.shape}")
    if b_v is not None and tuple(b_v.shape) != (Eq,):
        raise AssertionError(f"expecting value bias shape of {(Eq,)}, but got {b_v.shape}")
    return F.linear(q, w_q, b_q), F.linear(k, w_k, b_k), F.linear(v, w_v, b_v)


def _self_attention_nle(x, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, attn_mask,
                        dropout_p, is_causal):
    """Self-attention (query = key = value) of x (N, L, E) with the packed in-projection, as
    multi_head_attention_forward computes it with need_weights=False and no key padding, bias_k/v, zero
    attention or static keys, but without its layout copies: the heads are strided views of the one
    projection (N, L, 3, H, hd) that scaled_dot_product_attention reads in place, and the output is
    (N, L, E) (for a batch_first MultiheadAttention its transposes cancel: no copy). attn_mask: None or
    (L, L), already canonical; is_causal with attn_mask None uses the causal mask."""
    F = _F()
    N, L, E = x.shape
    hd = E // num_heads
    proj = F.linear(x, in_proj_weight, in_proj_bias).view(N, L, 3, num_heads, hd)
    q, k, v = proj.permute(2, 0, 3, 1, 4).unbind(0)  # each (N, H, L, hd)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal and attn_mask is None)
    out = out.transpose(1, 2).reshape(N, L, E)
    return F.linear(out, out_proj_weight, out_proj_bias)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """torch.nn.functional.multi_head_attention_forward: query (L, N, E) or unbatched (L, E), key/value
    (S, N, Ek/Ev). Masks may be bool (True = masked out) or float (added); key_padding_mask (N, S) is merged
    into attn_mask ((L, S) or (N*num_heads, L, S)). Returns (attn_output, attn_weights): the weights
    averaged over heads (N, L, S) or per head (N, num_heads, L, S) when need_weights, else None (then the
    attention itself runs through scaled_dot_product_attention, as in torch)."""
    F = _F()
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)

    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]

    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", _none_or_dtype(attn_mask),
                                       "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        # the causal hint replaces the mask: scaled_dot_product_attention builds it
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
        if key_padding_mask is not None:
            is_causal = False  # the merged mask is not causal any more

    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {key.shape[:2]} do not match value's "
                                 f"{value.shape[:2]}")
    elif tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")

    if (not use_separate_proj_weight and query is key and key is value and bias_k is None and bias_v is None
            and not add_zero_attn and static_k is None and static_v is None and not need_weights
            and key_padding_mask is None and (attn_mask is None or attn_mask.dim() == 2)):
        if attn_mask is not None and tuple(attn_mask.shape) != (tgt_len, src_len):
            raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                               f"{(tgt_len, src_len)}.")
        out = _self_attention_nle(query.transpose(0, 1), num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                                  out_proj_bias, attn_mask, dropout_p if training else 0.0, is_causal)
        out = out.transpose(0, 1)
        return (out.squeeze(1) if not is_batched else out), None

    # in-projection
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    else:
        if q_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but q_proj_weight is None")
        if k_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but k_proj_weight is None")
        if v_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but v_proj_weight is None")
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = _in_projection(query, key, value, q_proj_weight, k_proj_weight, v_proj_weight, b_q, b_k, b_v)

    # the attention mask: (1, L, S) or (N*H, L, S)
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            correct_2d_size = (tgt_len, src_len)
            if tuple(attn_mask.shape) != correct_2d_size:
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                                   f"{correct_2d_size}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            correct_3d_size = (bsz * num_heads, tgt_len, src_len)
            if tuple(attn_mask.shape) != correct_3d_size:
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                                   f"{correct_3d_size}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")

    # bias along the batch dimension
    if bias_k is not None and bias_v is not None:
        if static_k is not None:
            raise AssertionError("bias cannot be added to static key.")
        if static_v is not None:
            raise AssertionError("bias cannot be added to static value.")
        k = _C.cat([k, bias_k.repeat(1, bsz, 1)])
        v = _C.cat([v, bias_v.repeat(1, bsz, 1)])
        if attn_mask is not None:
            attn_mask = F.pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))
    else:
        if bias_k is not None:
            raise AssertionError("bias_k is set but bias_v is None")
        if bias_v is not None:
            raise AssertionError("bias_v is set but bias_k is None")

    # heads into the batch dimension: (N*H, L, head_dim)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    if static_k is None:
        k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        if static_k.shape[0] != bsz * num_heads:
            raise AssertionError(f"expecting static_k.size(0) of {bsz * num_heads}, but got {static_k.shape[0]}")
        if static_k.shape[2] != head_dim:
            raise AssertionError(f"expecting static_k.size(2) of {head_dim}, but got {static_k.shape[2]}")
        k = static_k
    if static_v is None:
        v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        if static_v.shape[0] != bsz * num_heads:
            raise AssertionError(f"expecting static_v.size(0) of {bsz * num_heads}, but got {static_v.shape[0]}")
        if static_v.shape[2] != head_dim:
            raise AssertionError(f"expecting static_v.size(2) of {head_dim}, but got {static_v.shape[2]}")
        v = static_v

    # a zero key and value at the end of the sequence
    if add_zero_attn:
        zero_attn_shape = [bsz * num_heads, 1, head_dim]
        k = _C.cat([k, _C._zeros(zero_attn_shape, k.dtype)], 1)
        v = _C.cat([v, _C._zeros(zero_attn_shape, v.dtype)], 1)
        if attn_mask is not None:
            attn_mask = F.pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))

    src_len = k.shape[1]

    # merge the key padding into the attention mask
    if key_padding_mask is not None:
        if key_padding_mask.shape[0] != bsz:
            raise AssertionError(f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                                 f"{key_padding_mask.shape[0]}")
        if key_padding_mask.shape[1] != src_len:
            raise AssertionError(f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                                 f"{key_padding_mask.shape[1]}")
        key_padding_mask = (key_padding_mask.view(bsz, 1, 1, src_len).expand(-1, num_heads, -1, -1)
                            .reshape(bsz * num_heads, 1, src_len))
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask

    if not training:
        dropout_p = 0.0

    if need_weights:
        E = q.shape[-1]
        q_scaled = q * math.sqrt(1.0 / float(E))
        if is_causal and attn_mask is None:
            raise AssertionError("FIXME: is_causal not implemented for need_weights")
        if attn_mask is not None:
            attn_output_weights = _C.baddbmm(attn_mask, q_scaled, k.transpose(-2, -1))
        else:
            attn_output_weights = _C.bmm(q_scaled, k.transpose(-2, -1))
        attn_output_weights = _C.softmax(attn_output_weights, -1)  # a fully masked row is NaN, as in torch
        if dropout_p > 0.0:
            attn_output_weights = F.dropout(attn_output_weights, p=dropout_p)
        attn_output = _C.bmm(attn_output_weights, v)
        attn_output = attn_output.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        attn_output = F.linear(attn_output, out_proj_weight, out_proj_bias)
        attn_output = attn_output.view(tgt_len, bsz, attn_output.shape[1])
        attn_output_weights = attn_output_weights.view(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            attn_output_weights = attn_output_weights.mean(dim=1)
        if not is_batched:
            attn_output = attn_output.squeeze(1)
            attn_output_weights = attn_output_weights.squeeze(0)
        return attn_output, attn_output_weights

    if attn_mask is not None:
        if attn_mask.shape[0] == 1 and attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    attn_output = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    attn_output = attn_output.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    attn_output = F.linear(attn_output, out_proj_weight, out_proj_bias)
    attn_output = attn_output.view(tgt_len, bsz, attn_output.shape[1])
    if not is_batched:
        attn_output = attn_output.squeeze(1)
    return attn_output, None
