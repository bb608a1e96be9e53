"""nnc: a compiler for neural networks, from Python.

Compile a model written in nnc's language (a `.ir` file or text, IR.md) or
an ONNX file, then train and run it on numpy arrays:

    import nnc, numpy as np
    model = nnc.compile("examples/xor.ir", threads=1)   # or nnc.compile(text=...)
    sess = model.session()
    loss = sess.train_step(x=X, y=Y)        # one compiled training step -> float
    out = sess.infer(x=X)                   # {"yhat": numpy array}
    w = sess.params["w1"]                   # a copy of the current values
    sess.params["w1"] = np.zeros_like(w)    # assignable
    sess.save("ck.safetensors"); sess.load("ck.safetensors")

Inputs are passed by name. A C-contiguous float32 or int32 array is read in
place, without a copy; anything else (another float or int dtype, a list, a
non-contiguous view) is converted once. A conversion that would change the
kind of number (floats to an int32 input) is refused.

Mistakes raise nnc.Error, whose message is nnc's located diagnostic
(`model.ir:7:12: error: ...` with the source line and a caret), and whose
`status` is the C API's code.

Threads: a Model may be shared; one Session serves one thread at a time.
`threads=` sets how many threads each call runs on (0: one per core); any
count gives the same bits.

This module is a thin layer (ctypes) over nnc's C API, include/nnc/nnc.h,
in libnnc.so: the same calls every language's FFI uses.
"""

import ctypes as _c
import os as _os

import numpy as _np

__all__ = ["Error", "Model", "Session", "compile", "version"]

_MAX_RANK = 8
# The C API's statuses that this module's own checks raise too.
_INVALID_ARGUMENT, _NOT_FOUND, _SHAPE_ERROR = 1, 3, 4
_F32, _I32 = 0, 1
_INPUT, _OUTPUT, _PARAM, _STATE = 0, 1, 2, 3
_DTYPES = {_F32: _np.dtype(_np.float32), _I32: _np.dtype(_np.int32)}


class Error(Exception):
    """An error reported by nnc: `str(e)` is its located diagnostic and
    `e.status` the C API's status code (nnc_status in nnc.h)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class _Options(_c.Structure):
    _fields_ = [("size", _c.c_size_t), ("threads", _c.c_int), ("use_cache", _c.c_int),
                ("target_cpu", _c.c_char_p), ("split_step", _c.c_int), ("reserved", _c.c_int),
                ("precision", _c.c_int)]


_PRECISIONS = {"f32": 0, "fp32": 0, "bf16": 1, "auto": 2}


class _Tensor(_c.Structure):
    _fields_ = [("name", _c.c_char_p), ("dtype", _c.c_int), ("rank", _c.c_int32),
                ("shape", _c.POINTER(_c.c_int64)), ("data", _c.c_void_p)]


class _TensorInfo(_c.Structure):
    _fields_ = [("name", _c.c_char_p), ("kind", _c.c_int), ("dtype", _c.c_int),
                ("rank", _c.c_int32), ("shape", _c.c_int64 * _MAX_RANK),
                ("dim_names", _c.c_char_p * _MAX_RANK)]


def _library_path():
    explicit = _os.environ.get("NNC_LIBRARY")
    if explicit:
        return explicit
    from . import _paths  # written by `cmake --install`
    return _os.path.normpath(_os.path.join(_os.path.dirname(__file__), _paths.LIBRARY))


def _load():
    lib = _c.CDLL(_library_path())
    P, S, I = _c.c_void_p, _c.c_int, _c.c_size_t
    sig = {
        "nnc_version": (_c.c_char_p, []),
        "nnc_last_error": (_c.c_char_p, []),
        "nnc_compile_file": (S, [_c.c_char_p, _c.POINTER(_Options), _c.POINTER(P)]),
        "nnc_compile_text": (S, [_c.c_char_p, _c.c_char_p, _c.POINTER(_Options), _c.POINTER(P)]),
        "nnc_model_free": (None, [P]),
        "nnc_model_name": (_c.c_char_p, [P]),
        "nnc_model_can_train": (S, [P]),
        "nnc_model_count": (I, [P, S]),
        "nnc_model_info": (S, [P, S, I, _c.POINTER(_TensorInfo)]),
        "nnc_model_find": (S, [P, _c.c_char_p, _c.POINTER(_TensorInfo)]),
        "nnc_session_create": (S, [P, _c.POINTER(P)]),
        "nnc_session_free": (None, [P]),
        "nnc_infer": (S, [P, _c.POINTER(_Tensor), I]),
        "nnc_output": (S, [P, I, _c.POINTER(_Tensor)]),
        "nnc_train_step": (S, [P, _c.POINTER(_Tensor), I, _c.POINTER(_c.c_float)]),
        "nnc_gradients_size": (I, [P]),
        "nnc_gradient_offset": (_c.c_int64, [P, _c.c_char_p]),
        "nnc_compute_gradients": (S, [P, _c.POINTER(_Tensor), I, P, _c.POINTER(_c.c_float), P, P]),
        "nnc_apply_gradients": (S, [P, P]),
        "nnc_read": (S, [P, _c.c_char_p, P, I]),
        "nnc_write": (S, [P, _c.c_char_p, P, I]),
        "nnc_save": (S, [P, _c.c_char_p]),
        "nnc_load": (S, [P, _c.c_char_p]),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


_lib = _load()


def _check(status):
    if status != 0:
        raise Error(_lib.nnc_last_error().decode("utf-8", "replace"), status)


def version():
    """nnc's version, "MAJOR.MINOR.PATCH"."""
    return _lib.nnc_version().decode()


class _Info:
    """What the model declares for one value: name, dtype, shape (None for
    a symbolic dim) and dim names."""

    def __init__(self, info):
        self.name = info.name.decode()
        self.dtype = _DTYPES[info.dtype]
        self.shape = tuple(None if info.shape[i] < 0 else int(info.shape[i])
                           for i in range(info.rank))
        self.dims = tuple(info.dim_names[i].decode() if info.dim_names[i] else int(info.shape[i])
                          for i in range(info.rank))

    def __repr__(self):
        dims = ", ".join(str(d) for d in self.dims)
        return f"{self.name}: {'f32' if self.dtype == _np.float32 else 'i32'}[{dims}]"


class Model:
    """A compiled model (immutable; may be shared between threads). Make one
    with nnc.compile(); make sessions with model.session()."""

    def __init__(self, handle):
        self._handle = handle

    def __del__(self):
        if getattr(self, "_handle", None):
            _lib.nnc_model_free(self._handle)
            self._handle = None

    def _list(self, kind):
        infos = []
        for i in range(_lib.nnc_model_count(self._handle, kind)):
            info = _TensorInfo()
            _check(_lib.nnc_model_info(self._handle, kind, i, _c.byref(info)))
            infos.append(_Info(info))
        return infos

    @property
    def name(self):
        return _lib.nnc_model_name(self._handle).decode()

    @property
    def can_train(self):
        """Whether the model has a training step (it declares `minimize`)."""
        return bool(_lib.nnc_model_can_train(self._handle))

    @property
    def inputs(self):
        return self._list(_INPUT)

    @property
    def outputs(self):
        return self._list(_OUTPUT)

    @property
    def params(self):
        return self._list(_PARAM)

    @property
    def states(self):
        """States: the model's own and its optimizer's (moments, step count)."""
        return self._list(_STATE)

    def session(self):
        """A new session: the model's params and states, initialized as the
        model says, and the buffers its calls need."""
        return Session(self)

    @property
    def gradient_offsets(self):
        """{param: offset in floats} of the flat gradient buffer (compiled
        with split_step=True; else empty)."""
        offsets = {p.name: _lib.nnc_gradient_offset(self._handle, p.name.encode())
                   for p in self.params}
        return {name: offset // 4 for name, offset in offsets.items() if offset >= 0}

    def __repr__(self):
        return f"<nnc.Model {self.name}: inputs {self.inputs}, outputs {self.outputs}>"


def compile(path=None, *, text=None, name=None, threads=0, cache=True, target_cpu=None,
            split_step=False, precision="f32"):
    """Compiles a model: a file (`.ir` or `.onnx`) or, with text=, model
    text (`name` is the file name its errors give). threads: the threads
    each call runs on (0: one per core). cache: reuse compiled code from
    nnc's disk cache. target_cpu: an LLVM CPU name (default: this CPU).
    split_step: also the training step cut at the gradients
    (Session.compute_gradients and apply_gradients, for data-parallel
    training with a communicator of your own). precision: "f32", "bf16"
    (matmul and conv2d operands in bf16, sums and everything else in f32;
    needs a CPU with AVX512_BF16) or "auto" (bf16 where the CPU has it).
    Raises nnc.Error with the located diagnostics when the model is wrong."""
    if (path is None) == (text is None):
        raise Error("nnc.compile: give a path or text=, one of them", _INVALID_ARGUMENT)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise Error("nnc.compile: threads must be an int >= 0", _INVALID_ARGUMENT)
    if text is not None and not isinstance(text, (str, bytes)):
        raise Error("nnc.compile: text= must be a str (or bytes)", _INVALID_ARGUMENT)
    if path is not None and not isinstance(path, (str, bytes, _os.PathLike)):
        raise Error("nnc.compile: the path must be a str or os.PathLike", _INVALID_ARGUMENT)
    if precision not in _PRECISIONS:
        raise Error(f"nnc.compile: precision must be 'f32', 'bf16' or 'auto', got {precision!r}",
                    _INVALID_ARGUMENT)
    options = _Options(_c.sizeof(_Options), threads, 1 if cache else 0,
                       target_cpu.encode() if target_cpu else None, 1 if split_step else 0, 0,
                       _PRECISIONS[precision])
    handle = _c.c_void_p()
    if path is not None:
        _check(_lib.nnc_compile_file(_os.fsencode(path), _c.byref(options), _c.byref(handle)))
    else:
        _check(_lib.nnc_compile_text(text.encode() if isinstance(text, str) else text,
                                     name.encode() if name else None,
                                     _c.byref(options), _c.byref(handle)))
    return Model(handle)


class _Values:
    """A session's params (or states) by name: reading gives a copy as a
    numpy array; assigning writes the values (same shape, converted to the
    dtype)."""

    def __init__(self, session, infos, what):
        self._session = session
        self._infos = {info.name: info for info in infos}
        self._what = what

    def __getitem__(self, name):
        info = self._lookup(name)
        out = _np.empty(info.shape, dtype=info.dtype)
        _check(_lib.nnc_read(self._session._handle, name.encode(),
                             out.ctypes.data_as(_c.c_void_p), out.nbytes))
        return out

    def __setitem__(self, name, value):
        info = self._lookup(name)
        array = _convert(name, value, info.dtype, self._what)
        if array.shape != info.shape:
            raise Error(f"{self._what} '{name}' has shape {info.shape}, got {array.shape}",
                        _SHAPE_ERROR)
        _check(_lib.nnc_write(self._session._handle, name.encode(),
                              array.ctypes.data_as(_c.c_void_p), array.nbytes))

    def _lookup(self, name):
        if name not in self._infos:
            raise Error(f"no {self._what} '{name}'; there are: {', '.join(self._infos)}",
                        _NOT_FOUND)
        return self._infos[name]

    def __contains__(self, name):
        return name in self._infos

    def __iter__(self):
        return iter(self._infos)

    def __len__(self):
        return len(self._infos)

    def keys(self):
        return self._infos.keys()

    def items(self):
        return [(name, self[name]) for name in self._infos]


def _convert(name, value, dtype, what="input"):
    """`value` as a C-contiguous array of `dtype`: itself when it is one.
    Refused: another kind of number (floats for int32), and integers that
    int32 cannot hold (they would wrap)."""
    try:
        array = _np.asarray(value)
    except (TypeError, ValueError) as e:
        raise Error(f"{what} '{name}': not an array ({e})", _SHAPE_ERROR) from None
    if array.dtype != dtype:
        if array.dtype.kind not in "biuf" or not _np.can_cast(array.dtype, dtype, "same_kind"):
            raise Error(f"{what} '{name}' must be {dtype} (or convertible without changing "
                        f"the kind of number), got {array.dtype}", _SHAPE_ERROR)
        if dtype.kind == "i" and array.dtype.kind in "iu" and array.size:
            info = _np.iinfo(dtype)
            if array.min() < info.min or array.max() > info.max:
                raise Error(f"{what} '{name}' holds integers outside int32's range",
                            _SHAPE_ERROR)
    return _np.asarray(array, dtype=dtype, order="C")  # itself when it is one (any rank)


class Session:
    """A model's params, states and buffers: train_step, infer, params,
    states, save, load. One thread at a time."""

    def __init__(self, model):
        self.model = model
        handle = _c.c_void_p()
        _check(_lib.nnc_session_create(model._handle, _c.byref(handle)))
        self._handle = handle
        self._inputs = {info.name: info for info in model.inputs}
        self._outputs = model.outputs
        self.params = _Values(self, model.params, "param")
        self.states = _Values(self, model.states, "state")

    def __del__(self):
        if getattr(self, "_handle", None):
            _lib.nnc_session_free(self._handle)
            self._handle = None

    def _tensors(self, inputs):
        keep, tensors = [], (_Tensor * max(1, len(inputs)))()
        for i, (name, value) in enumerate(inputs.items()):
            info = self._inputs.get(name)
            if info is None:
                raise Error(f"model '{self.model.name}' has no input '{name}' "
                            f"(its inputs: {', '.join(self._inputs)})", _NOT_FOUND)
            array = _convert(name, value, info.dtype)
            shape = (_c.c_int64 * max(1, array.ndim))(*array.shape)
            keep += [array, shape]
            tensors[i] = _Tensor(name.encode(), _F32 if info.dtype == _np.float32 else _I32,
                                 array.ndim, shape, array.ctypes.data)
        return tensors, keep

    def train_step(self, **inputs):
        """One training step (forward, backward, optimizer update) on the
        named inputs; returns the loss (before the update) as a float."""
        tensors, keep = self._tensors(inputs)
        loss = _c.c_float()
        _check(_lib.nnc_train_step(self._handle, tensors, len(inputs), _c.byref(loss)))
        del keep
        return float(loss.value)

    def infer(self, **inputs):
        """Runs inference (inference mode: batch norm's running statistics,
        no dropout) and returns {output name: numpy array} (copies)."""
        tensors, keep = self._tensors(inputs)
        _check(_lib.nnc_infer(self._handle, tensors, len(inputs)))
        del keep
        results = {}
        for i, info in enumerate(self._outputs):
            t = _Tensor()
            _check(_lib.nnc_output(self._handle, i, _c.byref(t)))
            shape = tuple(t.shape[d] for d in range(t.rank))
            count = int(_np.prod(shape, dtype=_np.int64))
            dtype = _DTYPES[t.dtype]
            if count == 0:
                results[info.name] = _np.empty(shape, dtype=dtype)
                continue
            buffer = (_c.c_char * (count * dtype.itemsize)).from_address(t.data)
            results[info.name] = _np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()
        return results

    def compute_gradients(self, **inputs):
        """The forward and backward passes (compiled with split_step=True):
        returns (loss, gradients), the gradients a flat float32 array with
        each trained param's at model.gradient_offsets[name]. Combine them
        as you like (sum across processes, scaled by each one's share of the
        batch), then apply_gradients(gradients)."""
        size = _lib.nnc_gradients_size(self.model._handle) // 4
        gradients = _np.zeros(size, dtype=_np.float32)
        tensors, keep = self._tensors(inputs)
        loss = _c.c_float()
        _check(_lib.nnc_compute_gradients(self._handle, tensors, len(inputs),
                                          gradients.ctypes.data_as(_c.c_void_p) if size else None,
                                          _c.byref(loss), None, None))
        del keep
        return float(loss.value), gradients

    def apply_gradients(self, gradients):
        """The optimizer's update from a flat gradient buffer."""
        array = _convert("gradients", gradients, _np.dtype(_np.float32), "argument")
        if array.size * 4 != _lib.nnc_gradients_size(self.model._handle):
            raise Error(f"apply_gradients: {array.size} floats, not "
                        f"{_lib.nnc_gradients_size(self.model._handle) // 4}", _SHAPE_ERROR)
        _check(_lib.nnc_apply_gradients(self._handle, array.ctypes.data_as(_c.c_void_p)))

    def save(self, path):
        """Writes every param and state to a safetensors file, atomically."""
        _check(_lib.nnc_save(self._handle, _os.fsencode(path)))

    def load(self, path):
        """Reads params and states back from a safetensors checkpoint."""
        _check(_lib.nnc_load(self._handle, _os.fsencode(path)))
