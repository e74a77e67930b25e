"""The Fashion-MNIST recipe of issue 4 in PyTorch, on the same image folder, as the baseline that `resnet train`
is compared with: CIFAR ResNet-20, 1 channel, 28x28, pad-4 random crop + flip, SGD (momentum 0.9, Nesterov,
weight decay 5e-4), one-cycle at lr 0.1, batch 128. Prints one JSON line per epoch with img/s.

  /usr/bin/python3 scripts/torch_train_folder.py DIR [--epochs 5] [--max-steps N] [--threads 2]
"""
import argparse
import json
import pathlib
import sys
import time

import torch
import torchvision
from torchvision import transforms

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from cifar_resnet import CifarResNet  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("data")
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--max-steps", type=int, default=0, help="stop each epoch after N steps (throughput only)")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--workers", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

gray = transforms.Grayscale(1)
train_tf = transforms.Compose(
    [gray, transforms.RandomCrop(28, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(), transforms.Normalize([0.286], [0.353])]
)
val_tf = transforms.Compose([gray, transforms.ToTensor(), transforms.Normalize([0.286], [0.353])])
root = pathlib.Path(a.data)
train_set = torchvision.datasets.ImageFolder(root / "train", train_tf)
val_set = torchvision.datasets.ImageFolder(root / "val", val_tf)
train_loader = torch.utils.data.DataLoader(train_set, batch_size=a.batch_size, shuffle=True, num_workers=a.workers)
val_loader = torch.utils.data.DataLoader(val_set, batch_size=256, num_workers=a.workers)

model = CifarResNet(3, in_channels=1, num_classes=len(train_set.classes))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
steps = len(train_loader) if not a.max_steps else min(a.max_steps, len(train_loader))
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=a.epochs * steps)
loss_fn = torch.nn.CrossEntropyLoss()
for epoch in range(1, a.epochs + 1):
    model.train()
    seen, correct, loss_sum, t0 = 0, 0, 0.0, time.perf_counter()
    for i, (x, y) in enumerate(train_loader):
        if a.max_steps and i >= a.max_steps:
            break
        out = model(x)
        loss = loss_fn(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        seen += len(y)
        correct += (out.argmax(1) == y).sum().item()
        loss_sum += loss.item() * len(y)
    sec = time.perf_counter() - t0
    model.eval()
    vc, vn = 0, 0
    with torch.no_grad():
        for x, y in val_loader:
            vc += (model(x).argmax(1) == y).sum().item()
            vn += len(y)
    print(json.dumps({"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen, "val_acc": vc / vn, "sec": sec, "img_per_s": seen / sec}), flush=True)
