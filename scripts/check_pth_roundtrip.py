"""Check .pth interop with PyTorch for every builder, both ways, through the `resnet` CLI. Not run by the test suite
(it needs torch and takes minutes); run it after changing src/io/pth/:

    /usr/bin/python3 scripts/check_pth_roundtrip.py [--cli "node --import tsx src/cli/main.ts"] [ARCH ...]

For each architecture (torchvision's ImageNet ResNets at 10 classes on 64x64 images, the CIFAR nets at 32x32),
with seeded random weights and BN statistics (make_pth_fixtures.randomize):

1. into resnet-ts: torch.save(model.state_dict()) -> `resnet forward --weights a.pth` must give torch's eval
   logits (computed in float64) within 1e-4 of their largest magnitude;
2. back into PyTorch: `resnet convert a.pth b.pth --arch A` (resnet-ts reads, loads into the model, writes) ->
   torch.load(b.pth, weights_only=True) -> load_state_dict(strict=True) into a fresh torchvision model, whose
   tensors and logits must equal the original's exactly.

It also writes test/fixtures/pth/written_by_resnet_ts.pth with `resnet convert` from tensors_expected.safetensors
and checks that torch.load(weights_only=True) returns exactly those tensors; the test suite then checks that the
writer still produces these bytes.
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar_resnet  # noqa: E402
import make_pth_fixtures  # noqa: E402
import safetensors_io  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "test", "fixtures", "pth")
IMAGENET = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]
RTOL = 1e-4


def build(arch):
    if arch in cifar_resnet.BUILDERS:
        return cifar_resnet.BUILDERS[arch](in_channels=3, num_classes=10), 32
    return getattr(torchvision.models, arch)(num_classes=10), 64


def seeded(arch):
    torch.manual_seed(0)
    model, size = build(arch)
    return make_pth_fixtures.randomize(model, 3), size


def run(cli, *args):
    r = subprocess.run(shlex.split(cli) + list(args), cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"resnet {' '.join(args)} failed:\n{r.stderr}")
    return r


def check_arch(cli, arch, work):
    model, size = seeded(arch)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model.double()(x.double()).numpy()
        model.float()
    a, b = os.path.join(work, "a.pth"), os.path.join(work, "b.pth")
    inp, out = os.path.join(work, "in.safetensors"), os.path.join(work, "out.safetensors")
    torch.save(model.state_dict(), a)
    safetensors_io.save_file({"input": x.numpy()}, inp)
    run(cli, "forward", "--arch", arch, "--num-classes", "10", "--weights", a, "--input", inp, "--output", out)
    got = safetensors_io.load_file(out)[0]["output"]
    into = float(np.abs(got - ref).max() / np.abs(ref).max())

    run(cli, "convert", a, b, "--arch", arch)
    loaded = torch.load(b, weights_only=True)
    fresh, _ = build(arch)
    fresh.load_state_dict(loaded, strict=True)
    fresh.eval()
    original = model.state_dict()
    same_tensors = list(loaded.keys()) == list(original.keys()) and all(
        loaded[k].dtype == original[k].dtype and torch.equal(loaded[k], original[k]) for k in original
    )
    with torch.no_grad():
        back = float((fresh(x) - model(x)).abs().max())
    ok = into <= RTOL and same_tensors and back == 0.0
    print(
        f"{arch:18s} into resnet-ts: max|diff|/max|ref| {into:.1e}   back into torch: "
        f"{len(loaded)} tensors {'identical' if same_tensors else 'DIFFER'}, max|logit diff| {back:.1e}   "
        f"{'ok' if ok else 'FAIL'}",
        flush=True,
    )
    return ok


def check_written_fixture(cli):
    source = os.path.join(FIXTURES, "tensors_expected.safetensors")
    target = os.path.join(FIXTURES, "written_by_resnet_ts.pth")
    run(cli, "convert", source, target)
    expected = safetensors_io.load_file(source)[0]
    loaded = torch.load(target, weights_only=True)
    ok = list(loaded.keys()) == list(expected.keys()) and all(
        loaded[k].numpy().dtype == v.dtype and np.array_equal(loaded[k].numpy(), v) for k, v in expected.items()
    )
    print(f"written_by_resnet_ts.pth: torch.load(weights_only=True) gives {len(loaded)} tensors, "
          f"{'all equal' if ok else 'NOT equal'} to tensors_expected.safetensors")
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", default="node --import tsx src/cli/main.ts")
    parser.add_argument("archs", nargs="*", default=IMAGENET + list(cifar_resnet.BUILDERS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    ok = check_written_fixture(args.cli)
    with tempfile.TemporaryDirectory() as work:
        for arch in args.archs:
            ok = check_arch(args.cli, arch, work) and ok
    print("all ok" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
