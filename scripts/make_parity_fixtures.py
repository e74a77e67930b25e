"""Generate the torch reference fixtures that prove the TypeScript engine matches torchvision's ResNets.

Run from the repository root with Debian's Python (torch 1.13, torchvision 0.14):

    /usr/bin/python3 scripts/make_parity_fixtures.py

It produces (all safetensors, float32 data, int64 labels; deterministic: two runs give identical bytes):

* test/fixtures/parity/<case>.safetensors: one file per model case. The model's weights are not shipped.
  Every state-dict entry (parameters, BN running_mean / running_var; num_batches_tracked stays 0)
  is filled with syntheticTensor(name, shape) (scripts/synthetic.py, a bit-exact port of
  src/tensor/synthetic.ts), so the TS tests rebuild the identical model from the arch name and
  builder options in the metadata. The reference runs in float64. Tensors:
    input         [N,C,H,W]  syntheticUniform(fnv1a32(seed), N*C*H*W), seed = 'input' or 'input:<k>' (below)
    labels        [N] int64  hash32(fnv1a32('labels'), i) % numClasses
    eval_output              model.eval()(input)
    train_output             model.train()(input) (this forward updates the BN running stats)
    loss          []         F.cross_entropy(train_output, labels), mean reduction
    grad.<p>      [5]        stats of d loss / d p for every parameter p
    buffer.<b>    [5]        stats of every running_mean / running_var after the train forward
  Stats of a tensor t with n elements, flattened, in float64: [dot(t, probe), ||t||_2, t[0], t[n//2], t[n-1]]
  with probe = syntheticUniform(fnv1a32('probe:' + name), n), name being the state-dict name.
  The `*_notop` case (includeTop: false) holds only input, eval_output and train_output.
  Metadata: case, arch, family ("torchvision" | "cifar"), options (JSON of the camelCase builder
  options), torch, torchvision, torch_f32_drift (see below), and for gradient cases input_seed and
  relu_margin (see below).

  ReLU margin: a gradient jumps where a ReLU input crosses zero, so an input within float32 round-off
  of zero lets any float32 engine legitimately land on the other side and move a gradient by more than
  its tolerance (resnet50's first input had one at 3e-7 of its tensor's std). For each gradient case the
  train-mode forward is run in float64 and the margin min over ReLU calls of min|x| / std(x) measured;
  the input seed is 'input', else 'input:1', 'input:2', ... until the margin reaches RELU_MARGIN = 1e-6
  (about 8 float32 ulps at the tensor's scale). A larger margin is out of reach: these forwards hold
  0.2M-4M ReLU inputs with ~1 per million within 1e-6 std of zero, so at 1e-5 no input would qualify.
  It makes a flip unlikely, not impossible: float32 error at deep ReLU inputs is ~1e-6 std (median)
  with tails near 1e-5, and a flip in torch's own float32 run shows up in torch_f32_drift.
  relu_margin records the margin achieved (3 significant digits, rounded down).
  The TS tests build arch(options), load synthetic weights, run the same eval / train steps and
  compare outputs, loss, gradient stats and buffer stats within float32 tolerances.

  torch_f32_drift: how far torch itself, running the same case in float32 (one thread), lands from
  this float64 reference. It is a JSON object of dimensionless errors, each rounded up to one
  significant digit, meant to scale the TS tests' tolerances (e.g. tol = max(floor, k * drift)):
    eval_output, train_output: max|a - ref| / max|ref|;   loss: |a - ref| / |ref|;
    grads, buffers: max over tensors of max(|d dot| / (norm * ||probe||), |d norm| / norm,
                    max |d element| / norm), where norm = ref[1] is the reference L2 norm.
  With synthetic weights the deep bottleneck nets are ill-conditioned in train mode (small BN
  batches at 56x56): for resnet152 float32 torch drifts ~1e-3 on train_output and ~5e-2 on grads,
  while resnet18 and the CIFAR nets stay near 1e-5.

* test/fixtures/ops.safetensors: op-level cases (conv2d, batch norm, pooling, linear, cross entropy,
  log_softmax) with full tensors: inputs `<case>.<arg>`, forward `<case>.out`, and `<case>.grad_<arg>`
  = gradient of sum(out * probe) with probe = syntheticUniform(fnv1a32('<case>.probe'), numel(out))
  (for cross_entropy, the gradient of the scalar loss itself). Data inputs (x, logits) are
  syntheticUniform(fnv1a32('<case>.<arg>')); parameters are syntheticTensor('<case>.<arg>', shape).
  Metadata `<case>` is the JSON of the op and its hyper-parameters; `cases` lists the case names.
"""

import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar_resnet  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402
from synthetic import fnv1a32, hash32, synthetic_tensor, synthetic_uniform  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures")
PARITY_DIR = os.path.join(OUT_DIR, "parity")

TV_BUILDERS = [
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
]  # fmt: skip


def model_cases():
    """(case, family, arch, options (camelCase), input shape)."""
    cases = [(b, "torchvision", b, {"numClasses": 1000}, [2, 3, 56, 56]) for b in TV_BUILDERS]
    cases.append(("resnet50_dilated", "torchvision", "resnet50",
                  {"numClasses": 10, "replaceStrideWithDilation": [False, True, True]}, [2, 3, 56, 56]))  # fmt: skip
    cases.append(("resnet18_odd", "torchvision", "resnet18", {"numClasses": 7}, [1, 3, 67, 45]))
    cases.append(("resnet18_notop", "torchvision", "resnet18", {"includeTop": False}, [2, 3, 56, 56]))
    for b in cifar_resnet.BUILDERS:
        cases.append((b, "cifar", b, {"numClasses": 10}, [4, 3, 32, 32]))
    cases.append(("resnet20_gray", "cifar", "resnet20", {"numClasses": 10, "inChannels": 1}, [4, 1, 28, 28]))
    return cases


def build(family, arch, options):
    include_top = options.get("includeTop", True)
    if family == "torchvision":
        kwargs = {"weights": None}
        if "numClasses" in options:
            kwargs["num_classes"] = options["numClasses"]
        if "replaceStrideWithDilation" in options:
            kwargs["replace_stride_with_dilation"] = options["replaceStrideWithDilation"]
        model = getattr(torchvision.models, arch)(**kwargs)
    else:
        model = cifar_resnet.BUILDERS[arch](in_channels=options.get("inChannels", 3), num_classes=options.get("numClasses", 10))
    if not include_top:
        model.fc = nn.Identity()
    return model


def fill_synthetic(model):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.zero_()
                continue
            t.copy_(torch.from_numpy(synthetic_tensor(name, t.shape).astype(np.float64)))


def stats(name, t):
    v = t.detach().to(torch.float64).reshape(-1).numpy()
    n = v.size
    probe = synthetic_uniform(fnv1a32("probe:" + name), n).astype(np.float64)
    return np.array([np.dot(v, probe), np.sqrt(np.dot(v, v)), v[0], v[n // 2], v[n - 1]], dtype=np.float64).astype(np.float32)


def f32(t):
    return t.detach().to(torch.float32).numpy().copy()


def round_up_1sig(v):
    """Round a non-negative error up to one significant digit (stable, compact metadata)."""
    if not np.isfinite(v):
        return float("inf")
    if v <= 0:
        return 0.0
    e = math.floor(math.log10(v))
    m = math.ceil(v / 10.0**e * (1 - 1e-12))
    if m >= 10:
        m, e = 1, e + 1
    return float(f"{m}e{e}")


def stats_drift(name, numel, ref, got):
    """Error of the stats vector `got` against the reference stats `ref`, relative to the reference L2 norm."""
    ref, got = ref.astype(np.float64), got.astype(np.float64)
    norm = ref[1]
    if norm == 0:
        return float(np.abs(got - ref).max())
    probe_norm = float(np.linalg.norm(synthetic_uniform(fnv1a32("probe:" + name), numel).astype(np.float64)))
    return float(max(np.abs(got[1:] - ref[1:]).max() / norm, abs(got[0] - ref[0]) / (norm * probe_norm)))


def f32_drift(family, arch, options, x64, ref):
    """Run the case in float32 torch and measure its distance from the float64 reference tensors `ref`."""
    model = build(family, arch, options)
    fill_synthetic(model)
    x = x64.to(torch.float32)
    rel = lambda a, b: float(np.abs(a.astype(np.float64) - b).max() / np.abs(b.astype(np.float64)).max())  # noqa: E731
    model.eval()
    with torch.no_grad():
        drift = {"eval_output": rel(f32(model(x)), ref["eval_output"])}
    model.train()
    out = model(x)
    drift["train_output"] = rel(f32(out), ref["train_output"])
    if "loss" in ref:
        loss = F.cross_entropy(out, torch.from_numpy(ref["labels"]))
        loss.backward()
        drift["loss"] = abs(float(loss) - float(ref["loss"])) / abs(float(ref["loss"]))
        drift["grads"] = max(stats_drift(n, p.numel(), ref["grad." + n], stats(n, p.grad)) for n, p in model.named_parameters())
        drift["buffers"] = max(stats_drift(n, b.numel(), ref["buffer." + n], stats(n, b))
                               for n, b in model.named_buffers() if "buffer." + n in ref)  # fmt: skip
    return {k: round_up_1sig(v) for k, v in drift.items()}


def synthetic_input(shape, seed):
    n = int(np.prod(shape))
    return torch.from_numpy(synthetic_uniform(fnv1a32(seed), n).astype(np.float64).reshape(shape))


RELU_MARGIN = 1e-6
MAX_INPUT_VARIANTS = 2000


def relu_margin(model, x):
    """min over ReLU calls of min|x| / std(x) in one train-mode forward; `model`'s buffers are restored after."""
    saved = {n: b.clone() for n, b in model.named_buffers()}
    margins = []
    relu = F.relu

    def measured_relu(t, inplace=False):
        margins.append(float(t.detach().abs().min() / t.detach().std()))
        return relu(t, inplace=inplace)

    F.relu = measured_relu  # nn.ReLU.forward looks F.relu up at call time
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        F.relu = relu
        with torch.no_grad():
            for n, b in model.named_buffers():
                b.copy_(saved[n])
    assert margins, "no ReLU call was measured"
    return min(margins)


def pick_input(case, model, shape):
    """The first input seed whose train-mode forward keeps every ReLU input RELU_MARGIN away from zero."""
    for k in range(MAX_INPUT_VARIANTS):
        seed = "input" if k == 0 else f"input:{k}"
        x = synthetic_input(shape, seed)
        margin = relu_margin(model, x)
        if margin >= RELU_MARGIN:
            return seed, x, margin
    raise RuntimeError(f"{case}: no input seed in {MAX_INPUT_VARIANTS} keeps ReLU inputs {RELU_MARGIN} std from zero")


def round_down_3sig(v):
    """Round a positive margin down to three significant digits (never overstates it)."""
    e = math.floor(math.log10(v)) - 2
    return float(f"{math.floor(v / 10.0**e)}e{e}")


def make_model_case(case, family, arch, options, shape):
    torch.manual_seed(0)
    model = build(family, arch, options).double()
    fill_synthetic(model)
    include_top = options.get("includeTop", True)
    if include_top:
        seed, x, margin = pick_input(case, model, shape)
    else:
        seed, x = "input", synthetic_input(shape, "input")
    tensors = {"input": f32(x)}

    model.eval()
    with torch.no_grad():
        eval_out = model(x)
    model.train()
    train_out = model(x)
    if include_top:
        num_classes = options["numClasses"]
        labels = np.array([hash32(fnv1a32("labels"), i) % num_classes for i in range(shape[0])], dtype=np.int64)
        loss = F.cross_entropy(train_out, torch.from_numpy(labels))
        loss.backward()
        tensors["labels"] = labels
    tensors["eval_output"] = f32(eval_out)
    tensors["train_output"] = f32(train_out)
    if include_top:
        tensors["loss"] = f32(loss).reshape(())
        for name, p in model.named_parameters():
            tensors["grad." + name] = stats(name, p.grad)
        for name, b in model.named_buffers():
            if name.endswith("running_mean") or name.endswith("running_var"):
                tensors["buffer." + name] = stats(name, b)

    meta = {
        "case": case,
        "arch": arch,
        "family": family,
        "options": json.dumps(options),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "torch_f32_drift": json.dumps(f32_drift(family, arch, options, x, tensors)),
    }
    if include_top:
        meta["input_seed"] = seed
        meta["relu_margin"] = json.dumps(round_down_3sig(margin))
    path = os.path.join(PARITY_DIR, case + ".safetensors")
    size = save_file(tensors, path, meta)
    return path, size, tensors


# ---------------------------------------------------------------- op-level cases


def op_cases():
    """(case, hyper-parameters, {arg: (shape, kind)}) where kind is 'uniform', 'tensor', 'buffer' or 'labels'."""
    bn_args = {"x": ([3, 5, 4, 3], "uniform"), "weight": ([5], "tensor"), "bias": ([5], "tensor"),
               "running_mean": ([5], "buffer"), "running_var": ([5], "buffer")}  # fmt: skip
    return [
        ("conv2d", {"op": "conv2d", "stride": [2, 1], "padding": [1, 2], "dilation": [2, 1], "groups": 2},
         {"x": ([2, 4, 7, 9], "uniform"), "w": ([6, 2, 3, 3], "tensor"), "bias": ([6], "tensor")}),
        ("conv2d_1x1_s2", {"op": "conv2d", "stride": [2, 2], "padding": [0, 0], "dilation": [1, 1], "groups": 1},
         {"x": ([2, 4, 7, 9], "uniform"), "w": ([6, 4, 1, 1], "tensor")}),
        ("conv2d_stem", {"op": "conv2d", "stride": [2, 2], "padding": [3, 3], "dilation": [1, 1], "groups": 1},
         {"x": ([1, 3, 13, 11], "uniform"), "w": ([4, 3, 7, 7], "tensor")}),
        ("batch_norm_train", {"op": "batch_norm", "training": True, "momentum": 0.1, "eps": 1e-5}, bn_args),
        ("batch_norm_eval", {"op": "batch_norm", "training": False, "momentum": 0.1, "eps": 1e-5}, bn_args),
        ("max_pool2d", {"op": "max_pool2d", "kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1], "dilation": [1, 1]},
         {"x": ([2, 3, 9, 7], "uniform")}),
        ("max_pool2d_rect", {"op": "max_pool2d", "kernel_size": [2, 3], "stride": [1, 2], "padding": [1, 0], "dilation": [1, 1]},
         {"x": ([2, 3, 9, 7], "uniform")}),
        ("adaptive_avg_pool2d", {"op": "adaptive_avg_pool2d", "output_size": [3, 2]}, {"x": ([2, 3, 7, 5], "uniform")}),
        ("adaptive_avg_pool2d_global", {"op": "adaptive_avg_pool2d", "output_size": [1, 1]}, {"x": ([2, 3, 7, 5], "uniform")}),
        ("linear", {"op": "linear"}, {"x": ([4, 6], "uniform"), "w": ([5, 6], "tensor"), "b": ([5], "tensor")}),
        ("cross_entropy", {"op": "cross_entropy", "reduction": "mean", "label_smoothing": 0.0},
         {"logits": ([4, 7], "uniform"), "labels": ([4], "labels")}),
        ("cross_entropy_smooth", {"op": "cross_entropy", "reduction": "mean", "label_smoothing": 0.1},
         {"logits": ([4, 7], "uniform"), "labels": ([4], "labels")}),
        ("log_softmax", {"op": "log_softmax", "dim": 1}, {"x": ([3, 5], "uniform")}),
    ]  # fmt: skip


def op_input(case, arg, shape, kind):
    name = f"{case}.{arg}"
    n = int(np.prod(shape))
    if kind == "uniform":
        return torch.from_numpy(synthetic_uniform(fnv1a32(name), n).astype(np.float64).reshape(shape)).requires_grad_(True)
    if kind == "labels":
        return torch.tensor([hash32(fnv1a32(name), i) % 7 for i in range(n)], dtype=torch.int64)
    t = torch.from_numpy(synthetic_tensor(name, shape).astype(np.float64))
    return t.requires_grad_(kind == "tensor")


def run_op(hp, a):
    op = hp["op"]
    if op == "conv2d":
        return F.conv2d(a["x"], a["w"], a.get("bias"), hp["stride"], hp["padding"], hp["dilation"], hp["groups"])
    if op == "batch_norm":
        return F.batch_norm(a["x"], a["running_mean"], a["running_var"], a["weight"], a["bias"],
                            hp["training"], hp["momentum"], hp["eps"])  # fmt: skip
    if op == "max_pool2d":
        return F.max_pool2d(a["x"], hp["kernel_size"], hp["stride"], hp["padding"], hp["dilation"])
    if op == "adaptive_avg_pool2d":
        return F.adaptive_avg_pool2d(a["x"], hp["output_size"])
    if op == "linear":
        return F.linear(a["x"], a["w"], a["b"])
    if op == "cross_entropy":
        return F.cross_entropy(a["logits"], a["labels"], reduction=hp["reduction"], label_smoothing=hp["label_smoothing"])
    if op == "log_softmax":
        return F.log_softmax(a["x"], dim=hp["dim"])
    raise ValueError(op)


def make_ops():
    tensors = {}
    meta = {}
    lines = []
    for case, hp, args in op_cases():
        a = {arg: op_input(case, arg, shape, kind) for arg, (shape, kind) in args.items()}
        for arg in args:
            tensors[f"{case}.{arg}"] = a[arg].detach().numpy().copy() if a[arg].dtype == torch.int64 else f32(a[arg])
        out = run_op(hp, a)
        if hp["op"] == "cross_entropy":
            target = out
        else:
            probe = synthetic_uniform(fnv1a32(case + ".probe"), out.numel()).astype(np.float64).reshape(tuple(out.shape))
            target = (out * torch.from_numpy(probe)).sum()
        target.backward()
        tensors[f"{case}.out"] = f32(out)
        grads = [arg for arg in args if a[arg].requires_grad]
        for arg in grads:
            tensors[f"{case}.grad_{arg}"] = f32(a[arg].grad)
        if hp["op"] == "batch_norm" and hp["training"]:
            tensors[f"{case}.running_mean_after"] = f32(a["running_mean"])
            tensors[f"{case}.running_var_after"] = f32(a["running_var"])
        meta[case] = json.dumps({**hp, "inputs": list(args), "grads": grads})
        lines.append(f"  ops/{case:28s} out {list(out.shape)} grads {grads}")
    meta["cases"] = json.dumps([c for c, _, _ in op_cases()])
    meta["torch"] = torch.__version__
    meta["torchvision"] = torchvision.__version__
    path = os.path.join(OUT_DIR, "ops.safetensors")
    size = save_file(tensors, path, meta)
    return path, size, tensors, lines


def verify(path, written):
    back, meta = load_file(path)
    assert set(back) == set(written)
    for k, v in written.items():
        v = np.asarray(v)
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and back[k].tobytes() == v.tobytes(), k
        if v.dtype != np.int64:
            assert np.all(np.isfinite(back[k])), k
    return meta


def main():
    # One thread and deterministic kernels, so the float64 reductions (and so the bytes) never vary.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(PARITY_DIR, exist_ok=True)
    t_start = time.perf_counter()
    total = 0
    for case, family, arch, options, shape in model_cases():
        t0 = time.perf_counter()
        path, size, tensors = make_model_case(case, family, arch, options, shape)
        meta = verify(path, tensors)
        assert meta["case"] == case and json.loads(meta["options"]) == options
        total += size
        n_grad = sum(k.startswith("grad.") for k in tensors)
        n_buf = sum(k.startswith("buffer.") for k in tensors)
        loss = f"loss {float(tensors['loss']):.6f}" if "loss" in tensors else "no top"
        if "input_seed" in meta:
            loss += f" seed {meta['input_seed']} relu margin {meta['relu_margin']}"
        print(f"parity/{case + '.safetensors':34s} {size:8d} B  input {shape} out {list(tensors['eval_output'].shape)} "
              f"{loss} grads {n_grad} buffers {n_buf}  f32 drift {meta['torch_f32_drift']}  {time.perf_counter() - t0:.1f}s",
              flush=True)  # fmt: skip
    path, size, tensors, lines = make_ops()
    verify(path, tensors)
    total += size
    print("\n".join(lines))
    print(f"ops.safetensors {size} B ({len(tensors)} tensors)")
    print(f"total {total} B in {time.perf_counter() - t_start:.1f}s")


if __name__ == "__main__":
    main()
