"""Generate the torch reference for Grad-CAM: test/fixtures/gradcam/gradcam.safetensors.

Run from the repository root with Debian's Python (torch 1.13, torchvision 0.14):

    /usr/bin/python3 scripts/make_gradcam_fixtures.py

Grad-CAM is computed the usual PyTorch way, with hooks on the last conv stage (torchvision: layer4, the CIFAR
nets: layer3): a forward hook keeps the stage output A (1, K, h, w), a tensor hook its gradient dS/dA for the
class score S = logits[c]; alpha_k = mean over positions of dS/dA_k, cam = ReLU(sum_k alpha_k A_k), then
(cam - min) / (max - min) (all zeros when the map is flat), as pytorch-grad-cam scales it. The model is in eval
mode and runs in float64. Weights are not shipped: every state-dict entry is syntheticTensor(name, shape)
(scripts/synthetic.py, bit-exact with src/tensor/synthetic.ts) and the input is
syntheticUniform(fnv1a32('input'), numel); the TS test rebuilds the same model and input.

Tensors per case: <case>.logits [numClasses], <case>.cam_top [h, w] (class = argmax of the logits),
<case>.cam_other [h, w] (the best-ranked other class with a non-flat map: the map depends on the class). Metadata <case> is JSON
{arch, options, shape, top, other, top_margin}; `cases` lists the case names. Deterministic output.
"""

import json
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar_resnet  # noqa: E402
from safetensors_io import save_file  # noqa: E402
from synthetic import fnv1a32, synthetic_tensor, synthetic_uniform  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "gradcam", "gradcam.safetensors")

# (case, arch, options, input shape): a basic-block and a bottleneck torchvision net on non-square inputs (so rows
# and columns cannot be swapped unnoticed), and a CIFAR net with its 8x8 last stage.
CASES = [
    ("resnet18_96x160", "resnet18", {"numClasses": 10}, [1, 3, 96, 160]),
    ("resnet50_64x96", "resnet50", {"numClasses": 10}, [1, 3, 64, 96]),
    ("resnet20_32x32", "resnet20", {"numClasses": 10}, [1, 3, 32, 32]),
]


def build(arch, options):
    if arch in cifar_resnet.BUILDERS:
        model = cifar_resnet.BUILDERS[arch](num_classes=options["numClasses"])
        return model, model.layer3
    model = getattr(torchvision.models, arch)(weights=None, num_classes=options["numClasses"])
    return model, model.layer4


def fill_synthetic(model):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.zero_()
            else:
                t.copy_(torch.from_numpy(synthetic_tensor(name, t.shape).astype(np.float64)))


def grad_cam(model, stage, x, class_index):
    """Grad-CAM with hooks: the stage output and its gradient for logits[0, class_index]."""
    saved = {}

    def keep(_module, _inputs, output):
        saved["maps"] = output
        output.register_hook(lambda g: saved.__setitem__("grad", g))

    handle = stage.register_forward_hook(keep)
    try:
        logits = model(x)
        model.zero_grad()
        logits[0, class_index].backward()
    finally:
        handle.remove()
    maps, grad = saved["maps"][0].detach(), saved["grad"][0]
    alpha = grad.mean(dim=(1, 2))
    cam = torch.relu((alpha[:, None, None] * maps).sum(dim=0))
    lo, hi = cam.min(), cam.max()
    cam = (cam - lo) / (hi - lo) if hi > lo else torch.zeros_like(cam)
    return logits[0].detach(), cam


def main():
    torch.manual_seed(0)
    tensors, metadata = {}, {}
    for case, arch, options, shape in CASES:
        model, stage = build(arch, options)
        model = model.double().eval()
        fill_synthetic(model)
        n = int(np.prod(shape))
        x = torch.from_numpy(synthetic_uniform(fnv1a32("input"), n).astype(np.float64).reshape(shape))
        logits, cam_top = grad_cam(model, stage, x, int(torch.argmax(model(x)[0])))
        ranked = [int(c) for c in torch.argsort(logits, descending=True)]
        top = ranked[0]
        # The best-ranked other class whose map is not flat: a low-scoring class often has no positive evidence.
        for other in ranked[1:]:
            _, cam_other = grad_cam(model, stage, x, other)
            if cam_other.max() > 0:
                break
        margin = float(logits[ranked[0]] - logits[ranked[1]])
        tensors[f"{case}.logits"] = logits.numpy().astype(np.float32)
        tensors[f"{case}.cam_top"] = cam_top.numpy().astype(np.float32)
        tensors[f"{case}.cam_other"] = cam_other.numpy().astype(np.float32)
        metadata[case] = json.dumps(
            {"arch": arch, "options": options, "shape": shape, "top": top, "other": other, "top_margin": margin}
        )
        print(f"{case}: cam {tuple(cam_top.shape)}, top {top} (margin {margin:.3g}), other {other}")
    metadata["cases"] = json.dumps([c[0] for c in CASES])
    metadata["torch"] = torch.__version__
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    print(OUT, save_file(tensors, OUT, metadata), "bytes")


if __name__ == "__main__":
    main()
