"""Generate the .pth fixtures that prove resnet-ts reads what torch.save writes, and refuses hostile pickles.

Run from the repository root with Debian's Python (torch 1.13):

    /usr/bin/python3 scripts/make_pth_fixtures.py

It writes, under test/fixtures/pth/ (deterministic: same seed, same values):

* resnet20.pth: torch.save(model.state_dict()) of the CIFAR resnet20 (scripts/cifar_resnet.py), 10 classes,
  with seeded random weights, BN statistics and num_batches_tracked = 7, so that eval-mode BN matters.
* resnet20_checkpoint.pth: a training checkpoint {"epoch": 7, "arch": "resnet20", "best_acc1": 91.5,
  "model": <state dict>} whose state dict comes from nn.DataParallel (every key starts with "module.") and whose
  float tensors are float16 (num_batches_tracked stays int64).
* resnet20_io.safetensors: input [2, 3, 32, 32]; output (resnet20.pth's logits) and checkpoint_output (the
  checkpoint's logits, from its float16 weights widened to float32), both computed in float64.
* tensors.pth: {"state_dict": {...}, "step": 3} with the layouts a reader must handle: a transposed view sharing
  its storage with another entry, a strided slice at a storage offset, an expanded (stride-0) tensor, 0-d and
  empty tensors, float16, bfloat16, float64 and int64. tensors_expected.safetensors holds each entry contiguous,
  as float32 (int64 for integers). tensors_deflated.pth is the same archive with every entry deflated (torch
  writes stored entries, but zip tools that repack a file may compress it).
* hostile_os_system.pth, hostile_eval.pth: files whose pickle calls os.system / builtins.eval on load (with
  plain torch.load) to create the file "pwned-by-pth-fixture" in the working directory. A safe reader refuses
  them by the global's name before anything runs.
"""

import builtins
import collections
import os
import sys
import zipfile

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar_resnet  # noqa: E402
import safetensors_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "pth")
MARKER = "pwned-by-pth-fixture"


def randomize(model, num_batches_tracked):
    """Seeded random BN weights, biases and statistics (and fc bias), so that eval-mode BN matters; in eval mode."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(num_batches_tracked)
            elif name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
            elif t.dim() == 1:  # BN weight
                t.copy_(1 + 0.25 * torch.randn(t.shape, generator=g))
    return model.eval()


def seeded_resnet20():
    torch.manual_seed(0)
    return randomize(cifar_resnet.resnet20(in_channels=3, num_classes=10), 7)


def logits(model, x):
    with torch.no_grad():
        return model.double()(x.double()).float().numpy()


def resnet20_fixtures():
    model = seeded_resnet20()
    torch.save(model.state_dict(), os.path.join(OUT, "resnet20.pth"))
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 32, 32, generator=g)

    half = collections.OrderedDict(
        (k, v.half() if v.is_floating_point() else v) for k, v in nn.DataParallel(model).state_dict().items()
    )
    checkpoint = {"epoch": 7, "arch": "resnet20", "best_acc1": 91.5, "model": half}
    torch.save(checkpoint, os.path.join(OUT, "resnet20_checkpoint.pth"))
    widened = seeded_resnet20()
    widened.load_state_dict({k[len("module.") :]: v.float() if v.is_floating_point() else v for k, v in half.items()})

    io = {"input": x.numpy(), "output": logits(model, x), "checkpoint_output": logits(widened, x)}
    safetensors_io.save_file(io, os.path.join(OUT, "resnet20_io.safetensors"))


def tensors_fixture():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.5
    grid = torch.arange(30, dtype=torch.float32).reshape(5, 6)
    entries = collections.OrderedDict(
        [
            ("base", base),
            ("transposed", base.t()),  # shares base's storage, strides (1, 4)
            ("sliced", grid[1:4, 1::2]),  # storage offset 7, strides (6, 2)
            ("expanded", torch.tensor([1.5, -2.0]).expand(3, 2)),  # strides (0, 1)
            ("scalar", torch.tensor(3.25)),
            ("empty", torch.zeros(0, 3)),
            ("half", torch.tensor([0.5, -1.25, 65504.0, 6.1e-5], dtype=torch.float16)),
            ("bfloat", torch.tensor([1.0, -3.5, 1e30], dtype=torch.bfloat16)),
            ("double", torch.tensor([[0.1, -2.0], [1e-3, 7.0]], dtype=torch.float64)),
            ("count", torch.tensor(42, dtype=torch.int64)),
        ]
    )
    assert not entries["transposed"].is_contiguous() and not entries["sliced"].is_contiguous()
    assert entries["transposed"].storage().data_ptr() == base.storage().data_ptr()
    torch.save({"state_dict": entries, "step": 3}, os.path.join(OUT, "tensors.pth"))
    expected = collections.OrderedDict(
        (k, (v if v.dtype == torch.int64 else v.float()).contiguous().numpy()) for k, v in entries.items()
    )
    safetensors_io.save_file(expected, os.path.join(OUT, "tensors_expected.safetensors"))
    with zipfile.ZipFile(os.path.join(OUT, "tensors.pth")) as src:
        with zipfile.ZipFile(os.path.join(OUT, "tensors_deflated.pth"), "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), src.read(info),
                             compress_type=zipfile.ZIP_DEFLATED)
    assert torch.equal(torch.load(os.path.join(OUT, "tensors_deflated.pth"))["state_dict"]["sliced"], entries["sliced"])


class Hostile:
    """Pickles as a call to `fn(arg)`: what plain pickle.load would run."""

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def hostile_fixtures():
    torch.save({"conv1.weight": Hostile(os.system, f"touch {MARKER}")}, os.path.join(OUT, "hostile_os_system.pth"))
    code = f"__import__('os').system('touch {MARKER}')"
    torch.save({"conv1.weight": Hostile(builtins.eval, code)}, os.path.join(OUT, "hostile_eval.pth"))


def main():
    os.makedirs(OUT, exist_ok=True)
    resnet20_fixtures()
    tensors_fixture()
    hostile_fixtures()
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
