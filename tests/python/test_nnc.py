"""The Python module against an installed nnc (tests/install/run.sh python):
the contract of the issue, numbers checked against the C++ engines' and
numpy's, and every error class of bad input."""

import os

import numpy as np
import pytest

import nnc

EXAMPLES = os.environ.get("NNC_EXAMPLES", os.path.join(os.path.dirname(__file__), "../../examples"))
XOR = os.path.join(EXAMPLES, "xor.ir")
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture(scope="module")
def xor():
    return nnc.compile(XOR, threads=1)


def test_contract_trains_xor(xor, tmp_path):
    sess = xor.session()
    first = sess.train_step(x=X, y=Y)
    assert isinstance(first, float)
    for _ in range(3000):
        loss = sess.train_step(x=X, y=Y)
    assert loss < 0.05 < first
    out = sess.infer(x=X)
    assert list(out) == ["yhat"]
    assert out["yhat"].shape == (4, 1) and out["yhat"].dtype == np.float32
    assert np.all(np.abs(out["yhat"] - Y) < 0.2)
    # The output is the model's function of its params: recompute in numpy.
    p = {name: sess.params[name] for name in sess.params}
    h = sigmoid(X @ p["w1"] + p["b1"])
    np.testing.assert_allclose(out["yhat"], sigmoid(h @ p["w2"] + p["b2"]), rtol=1e-5, atol=1e-6)
    # Checkpoints round-trip bit for bit.
    path = tmp_path / "ck.safetensors"
    sess.save(str(path))
    w1 = sess.params["w1"]
    sess.params["w1"] = np.zeros((2, 2), dtype=np.float32)
    assert np.all(sess.params["w1"] == 0)
    sess.load(str(path))
    assert np.array_equal(sess.params["w1"], w1)
    assert np.array_equal(sess.infer(x=X)["yhat"], out["yhat"])


def test_first_loss_matches_numpy(xor):
    # The initial params and the loss, sse = 1/2 sum (yhat - y)^2 (IR.md), in numpy.
    sess = xor.session()
    p = {name: sess.params[name] for name in sess.params}
    yhat = sigmoid(sigmoid(X @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"])
    assert sess.train_step(x=X, y=Y) == pytest.approx(0.5 * float(np.sum((yhat - Y) ** 2)), rel=1e-5)


def test_sessions_are_independent_and_deterministic(xor):
    a, b = xor.session(), xor.session()
    losses_a = [a.train_step(x=X, y=Y) for _ in range(5)]
    losses_b = [b.train_step(x=X, y=Y) for _ in range(5)]
    assert losses_a == losses_b
    assert not np.array_equal(a.params["w1"], xor.session().params["w1"])


def test_model_describes_itself(xor):
    assert xor.name == "xor" and xor.can_train
    assert [(i.name, i.shape, i.dims) for i in xor.inputs] == [
        ("x", (None, 2), ("B", 2)), ("y", (None, 1), ("B", 1))]
    assert [o.name for o in xor.outputs] == ["yhat"]
    assert [p.name for p in xor.params] == ["w1", "b1", "w2", "b2"]
    assert "xor" in repr(xor)
    assert nnc.version().count(".") == 2


def test_compile_from_text_and_inference_only_model():
    text = """model affine {
  dim B
  input x: f32[B, 3]
  param w: f32[3, 2] = fill(0.5)
  y = matmul(x, w) + 1
  output y
}
"""
    model = nnc.compile(text=text)
    assert not model.can_train
    sess = model.session()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(sess.infer(x=x)["y"], x @ np.full((3, 2), 0.5) + 1, rtol=1e-6)
    with pytest.raises(nnc.Error, match="no training step") as e:
        sess.train_step(x=x)
    assert e.value.status == 7


def test_arrays_are_converted_once_when_needed(xor):
    sess = xor.session()
    reference = sess.infer(x=X)["yhat"]
    # float64, a list, a Fortran-order and a strided view: all converted.
    assert np.array_equal(sess.infer(x=X.astype(np.float64))["yhat"], reference)
    assert np.array_equal(sess.infer(x=X.tolist())["yhat"], reference)
    assert np.array_equal(sess.infer(x=np.asfortranarray(X))["yhat"], reference)
    wide = np.zeros((4, 4), dtype=np.float32)
    wide[:, ::2] = X
    assert np.array_equal(sess.infer(x=wide[:, ::2])["yhat"], reference)


def test_text_reads_weights_relative_to_the_current_folder(xor, tmp_path, monkeypatch):
    trained = xor.session()
    trained.train_step(x=X, y=Y)
    trained.save(str(tmp_path / "xor.safetensors"))
    monkeypatch.chdir(tmp_path)
    text = """model probe {
  input x: f32[2, 2]
  param w1: f32[2, 2] = safetensors("xor.safetensors")
  y = matmul(x, w1)
  output y
}
"""
    out = nnc.compile(text=text).session().infer(x=np.eye(2, dtype=np.float32))["y"]
    assert np.array_equal(out, trained.params["w1"])
    with pytest.raises(nnc.Error, match="missing.safetensors"):
        nnc.compile(text=text.replace("xor.safetensors", "missing.safetensors"))


def test_contiguous_arrays_are_passed_without_a_copy():
    a = np.zeros((4, 2), np.float32)
    assert nnc._convert("x", a, np.dtype(np.float32)) is a
    b = np.zeros(3, np.int32)
    assert nnc._convert("label", b, np.dtype(np.int32)) is b
    # Converted once: a new C-contiguous array of the model's dtype.
    c = nnc._convert("x", a.T, np.dtype(np.float32))
    assert c is not a and c.flags.c_contiguous and c.shape == (2, 4)


def test_rank0_inputs_keep_their_rank():
    model = nnc.compile(text="model s {\n  input t: f32[]\n  y = t * 2\n  output y\n}\n")
    out = model.session().infer(t=np.float32(1.5))["y"]
    assert out.shape == () and out == 3.0
    assert model.session().infer(t=2)["y"] == 4.0


def test_digits_mlp_trains_with_int_labels():
    model = nnc.compile(os.path.join(EXAMPLES, "digits_mlp.ir"), threads=1)
    sess = model.session()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 16, size=(64, 64)).astype(np.float32)
    label = (np.arange(64) % 10).astype(np.int64)  # int64: converted to int32
    losses = [sess.train_step(x=x, label=label) for _ in range(60)]
    assert losses[-1] < losses[0]
    out = sess.infer(x=x, label=label)  # an input inference does not need is ignored
    assert next(iter(out.values())).shape == (64, 10)


def _has_bf16():
    with open("/proc/cpuinfo") as f:
        return " avx512_bf16" in f.read()


@pytest.mark.skipif(not _has_bf16(), reason="this CPU has no AVX512_BF16")
def test_bf16_precision_trains_close_to_f32():
    path = os.path.join(EXAMPLES, "digits_mlp.ir")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 16, size=(64, 64)).astype(np.float32)
    label = (np.arange(64) % 10).astype(np.int32)
    losses = {}
    for precision in ("f32", "bf16", "auto"):
        sess = nnc.compile(path, threads=1, precision=precision).session()
        losses[precision] = [sess.train_step(x=x, label=label) for _ in range(30)]
    assert losses["bf16"] == losses["auto"]  # auto is bf16 on this CPU
    assert losses["bf16"] != losses["f32"]  # the operands were rounded
    assert np.allclose(losses["bf16"], losses["f32"], rtol=2e-2)
    assert losses["bf16"][-1] < losses["bf16"][0]


# ---- errors -----------------------------------------------------------------------


def test_an_unknown_or_unsupported_precision_is_refused():
    with pytest.raises(nnc.Error, match="precision must be 'f32', 'bf16' or 'auto'") as e:
        nnc.compile(XOR, precision="fp16")
    assert e.value.status == 1
    with pytest.raises(nnc.Error, match="AVX512_BF16") as e:
        nnc.compile(XOR, precision="bf16", target_cpu="skylake-avx512")
    assert e.value.status == 7


def test_a_model_error_is_located(tmp_path):
    bad = tmp_path / "bad.ir"
    bad.write_text("model m {\n  input x: f32[2]\n  y = relu(z)\n  output y\n}\n")
    with pytest.raises(nnc.Error) as e:
        nnc.compile(str(bad))
    message = str(e.value)
    assert f"{bad}:3:" in message and "error:" in message and "y = relu(z)" in message
    assert "^" in message and e.value.status == 2
    with pytest.raises(nnc.Error, match="bad.ir:3:"):
        nnc.compile(text=bad.read_text(), name="bad.ir")
    with pytest.raises(nnc.Error, match="no-such.ir"):
        nnc.compile(str(tmp_path / "no-such.ir"))
    with pytest.raises(nnc.Error, match="one of them"):
        nnc.compile()
    with pytest.raises(nnc.Error, match="threads"):
        nnc.compile(XOR, threads=-2)
    with pytest.raises(nnc.Error, match="threads"):
        nnc.compile(XOR, threads=True)
    with pytest.raises(nnc.Error, match="text= must be a str"):
        nnc.compile(text=5)
    assert nnc.compile(text=b"model m {\n  input x: f32[2]\n  y = x * 2\n  output y\n}\n")


def test_wrong_dtype_is_refused(xor):
    sess = xor.session()
    with pytest.raises(nnc.Error, match="input 'x' must be float32"):
        sess.infer(x=np.array([["a", "b"]]))
    digits = nnc.compile(os.path.join(EXAMPLES, "digits_mlp.ir"), threads=1).session()
    with pytest.raises(nnc.Error, match="input 'label' must be int32.*float"):
        digits.train_step(x=np.zeros((2, 64), np.float32), label=np.array([0.5, 1.5]))


def test_missing_unknown_and_misshapen_inputs(xor):
    sess = xor.session()
    with pytest.raises(nnc.Error, match="'y'") as e:
        sess.train_step(x=X)
    assert e.value.status == 4
    with pytest.raises(nnc.Error, match="no input 'label'"):
        sess.train_step(x=X, label=Y)
    with pytest.raises(nnc.Error, match="'y'") as e:
        sess.train_step(x=X, y=np.zeros((4, 3), np.float32))
    assert e.value.status == 4
    with pytest.raises(nnc.Error, match="B"):
        sess.train_step(x=X, y=np.zeros((3, 1), np.float32))


def test_params_by_name_check_names_and_shapes(xor, tmp_path):
    sess = xor.session()
    with pytest.raises(nnc.Error, match="no param 'w9'") as e:
        sess.params["w9"]
    assert e.value.status == 3
    with pytest.raises(nnc.Error, match=r"param 'w1' has shape \(2, 2\)") as e:
        sess.params["w1"] = np.zeros((3, 3))
    assert e.value.status == 4
    with pytest.raises(nnc.Error, match="param 'w1'"):
        sess.params["w1"] = "abc"
    with pytest.raises(nnc.Error, match="missing.safetensors") as e:
        sess.load(str(tmp_path / "missing.safetensors"))
    assert e.value.status == 5


def test_scalar_states_are_assignable(xor):
    # The learning rate is a scalar state: a training loop may schedule it.
    sess = xor.session()
    sess.states["sgd.lr"] = 0.0
    w1 = sess.params["w1"]
    sess.train_step(x=X, y=Y)
    assert np.array_equal(sess.params["w1"], w1)
    sess.states["sgd.lr"] = np.float32(0.5)
    assert sess.states["sgd.lr"] == np.float32(0.5)


def test_integers_that_would_wrap_are_refused():
    sess = nnc.compile(os.path.join(EXAMPLES, "digits_mlp.ir"), threads=1).session()
    x = np.zeros((2, 64), np.float32)
    with pytest.raises(nnc.Error, match="outside int32's range") as e:
        sess.train_step(x=x, label=np.array([3, 2**32 + 3], np.int64))
    assert e.value.status == 4
    with pytest.raises(nnc.Error, match="outside int32's range"):
        sess.train_step(x=x, label=np.array([2**63, 1], np.uint64))
    sess.train_step(x=x, label=np.array([3, 4], np.int64))  # in range: converted


def test_a_checkpoint_that_does_not_fit_changes_nothing(xor, tmp_path):
    other = nnc.compile(text="""model xor {
  input x: f32[4, 2]
  param w1: f32[2, 2] = fill(9)
  param b1: f32[2] = fill(9)
  param w2: f32[2, 1] = fill(9)
  param b2: f32[5] = fill(9)
  y = sum(matmul(x, w1) + b1) + sum(w2) + sum(b2)
  output y
}
""").session()
    other.save(str(tmp_path / "misfit.safetensors"))
    sess = xor.session()
    before = {name: sess.params[name] for name in sess.params}
    with pytest.raises(nnc.Error, match="b2"):
        sess.load(str(tmp_path / "misfit.safetensors"))
    for name, value in before.items():
        assert np.array_equal(sess.params[name], value), name


def test_a_label_out_of_range_is_a_located_runtime_error():
    sess = nnc.compile(os.path.join(EXAMPLES, "digits_mlp.ir"), threads=1).session()
    with pytest.raises(nnc.Error, match="label") as e:
        sess.train_step(x=np.zeros((2, 64), np.float32), label=np.array([3, 12], np.int32))
    assert e.value.status == 6


def test_the_split_step_is_the_training_step():
    # compute_gradients then apply_gradients: train_step's bits; the buffer
    # is what a data-parallel program would sum across processes.
    model = nnc.compile(XOR, threads=1, split_step=True)
    assert model.gradient_offsets == {"w1": 0, "b1": 16, "w2": 32, "b2": 48}
    whole, split = model.session(), model.session()
    for _ in range(20):
        a = whole.train_step(x=X, y=Y)
        b, gradients = split.compute_gradients(x=X, y=Y)
        split.apply_gradients(gradients)
        assert a == b
    assert np.array_equal(whole.params["w1"], split.params["w1"])
    # Two half batches' gradients, each weighted by its share: the whole batch's.
    _, g1 = model.session().compute_gradients(x=X[:2], y=Y[:2])
    _, g2 = model.session().compute_gradients(x=X[2:], y=Y[2:])
    _, g = model.session().compute_gradients(x=X, y=Y)
    np.testing.assert_allclose(g1 + g2, g, rtol=1e-5, atol=1e-7)  # sse sums: shares are 1
    with pytest.raises(nnc.Error, match="split_step") as e:
        xor_plain = nnc.compile(XOR, threads=1)
        xor_plain.session().compute_gradients(x=X, y=Y)
    assert e.value.status == 7
    with pytest.raises(nnc.Error, match="not 64"):
        split.apply_gradients(np.zeros(3, np.float32))


def test_help_explains_the_module():
    doc = nnc.__doc__
    for word in ("nnc.compile", "train_step", "infer", "params", "nnc.Error", "save"):
        assert word in doc
