"""Writes small test images to test/fixtures/images/ and torchvision's eval-transform outputs for them to
test/fixtures/transforms/eval.safetensors (run with /usr/bin/python3: torchvision 0.14, Pillow).

The reference loader is torchvision's ImageFolder loader (PIL open + convert('RGB'), then Grayscale(1) for one
channel) with the two changes resnet-ts makes on purpose: EXIF orientation is applied first, and 16-bit samples
keep their top 8 bits (PIL would clip them to 255). Each case's description is in the file's metadata.
"""

import json
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import encode  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures")
IMAGES = os.path.join(ROOT, "images")
OUT = os.path.join(ROOT, "transforms", "eval.safetensors")
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def pattern(h, w, c, seed):
    """Smooth gradients plus a little noise: compresses well, and exercises every resize tap."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = [
        127 + 120 * np.sin(x / (3 + k) + y / (5 + 2 * k) + k) * np.cos(y / (7 + k)) + rng.normal(0, 6, (h, w))
        for k in range(c)
    ]
    return np.clip(np.stack(planes, -1), 0, 255).round().astype(np.uint8)


def write_images():
    os.makedirs(IMAGES, exist_ok=True)
    Image.fromarray(pattern(23, 37, 3, 1)).save(os.path.join(IMAGES, "rgb_37x23.png"))
    Image.fromarray(pattern(31, 19, 1, 2)[..., 0], "L").save(os.path.join(IMAGES, "gray_19x31.png"))
    rgba = np.concatenate([pattern(24, 24, 3, 3), pattern(24, 24, 1, 4)], -1)
    rgba[:4, :, 3] = 0  # fully transparent rows keep their colour, which convert('RGB') shows
    Image.fromarray(rgba, "RGBA").save(os.path.join(IMAGES, "rgba_24x24.png"))
    g16 = (pattern(17, 21, 1, 5)[..., 0].astype(np.uint16) * 257 + np.arange(21, dtype=np.uint16) * 7) % 65536
    Image.fromarray(g16.astype(np.uint16)).save(os.path.join(IMAGES, "gray16_21x17.png"))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 30x20, shown rotated 90° clockwise as 20x30
    Image.fromarray(pattern(20, 30, 3, 6)).save(
        os.path.join(IMAGES, "exif6_30x20.jpg"), quality=95, subsampling=0, exif=exif.tobytes()
    )
    Image.fromarray(pattern(30, 40, 3, 7)).save(os.path.join(IMAGES, "rgb_40x30.jpg"), quality=95, subsampling=0)
    Image.fromarray(pattern(120, 160, 3, 8)).save(os.path.join(IMAGES, "photo_160x120.png"))
    Image.fromarray(pattern(27, 33, 3, 9)).save(os.path.join(IMAGES, "rgb_33x27.webp"), lossless=True)
    Image.fromarray(pattern(22, 26, 3, 10)).save(os.path.join(IMAGES, "rgb_26x22.tif"))
    frames = [Image.fromarray(pattern(18, 25, 3, 11 + k)).quantize(16) for k in range(2)]
    frames[0].save(os.path.join(IMAGES, "anim_25x18.gif"), save_all=True, append_images=frames[1:], duration=100)


def load(path, channels):
    img = ImageOps.exif_transpose(Image.open(path))
    if img.mode == "I" or img.mode.startswith("I;16"):
        img = Image.fromarray((np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8), "L")
    img = img.convert("RGB")
    return T.Grayscale(1)(img) if channels == 1 else img


def norm(channels):
    return IMAGENET if channels == 3 else ([0.5], [0.5])


def main():
    write_images()
    tensors = {}
    cases = []
    files = sorted(f for f in os.listdir(IMAGES) if not f.startswith("cmyk"))
    for file in files:
        path = os.path.join(IMAGES, file)
        for augment, size, channels in [("imagenet", 32, 3), ("imagenet", 32, 1), ("cifar", 12, 3)]:
            mean, std = norm(channels)
            resize = round(size * 256 / 224) if augment == "imagenet" else size
            steps = [T.Resize(resize), T.CenterCrop(size)] if augment == "imagenet" else [T.Resize((size, size))]
            tf = T.Compose(steps + [T.ToTensor(), T.Normalize(mean, std)])
            key = f"{file}|{augment}|{size}|{channels}"
            tensors[key] = tf(load(path, channels)).numpy()
            cases.append({"key": key, "file": file, "augment": augment, "imgSize": size, "channels": channels})
    for file, box, size in [("photo_160x120.png", (17, 40, 90, 101), 24), ("rgb_37x23.png", (3, 5, 15, 20), 16)]:
        top, left, h, w = box
        img = load(os.path.join(IMAGES, file), 3)
        key = f"{file}|crop|{top},{left},{h},{w}|{size}"
        out = T.Normalize(*IMAGENET)(F.to_tensor(F.resized_crop(img, top, left, h, w, [size, size])))
        tensors[key] = out.numpy()
        cases.append({"key": key, "file": file, "box": {"x": left, "y": top, "width": w, "height": h}, "imgSize": size})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    meta = {"cases": json.dumps(cases), "torchvision": torchvision.__version__, "pillow": Image.__version__}
    with open(OUT, "wb") as f:
        f.write(encode(tensors, meta))
    print(f"wrote {len(files)} images and {len(cases)} cases ({torch.__version__})")


if __name__ == "__main__":
    main()
