"""Writes test/fixtures/architectures.json: for every torchvision ResNet builder, the parameter count and the
state-dict keys with their shapes, in torch's order. The TS tests check the models against it.

Run with Debian's interpreter: /usr/bin/python3 scripts/make_architecture_fixture.py
"""
import json
import os

import torchvision.models as tvm

BUILDERS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
            "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"]


def describe(model):
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "state_dict": [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()],
    }


def main():
    out = {name: describe(getattr(tvm, name)(weights=None)) for name in BUILDERS}
    out["resnet50_dilated"] = describe(tvm.resnet50(weights=None, replace_stride_with_dilation=[False, True, True]))
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "architectures.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    for name, d in out.items():
        print(f"{name}: {d['params']:,} params, {len(d['state_dict'])} entries")


if __name__ == "__main__":
    main()
