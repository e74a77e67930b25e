"""PyTorch's side of `npm run bench`: the same workloads as `resnet bench`, one JSON line on stdout.

Run: /usr/bin/python3 bench/torch_bench.py --arch resnet18 --batch 32 --size 224 --mode train --threads 2
Prints {"skipped": reason} when torch or torchvision cannot be imported, so the caller can note it and go on.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time


def build(arch, in_channels, num_classes):
    import torch.nn as nn
    import torchvision

    if arch in ('resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet110'):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
        import cifar_resnet

        return getattr(cifar_resnet, arch)(in_channels=in_channels, num_classes=num_classes)
    model = getattr(torchvision.models, arch)(num_classes=num_classes)
    if in_channels != 3:
        old = model.conv1
        model.conv1 = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
    return model


def peak_rss_mb():
    # VmHWM, this address space's high-water mark, as `resnet bench` reads it: ru_maxrss would include the
    # memory of the process that spawned this one.
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--arch', required=True)
    p.add_argument('--batch', type=int, required=True)
    p.add_argument('--size', type=int, required=True)
    p.add_argument('--mode', choices=['infer', 'train'], required=True)
    p.add_argument('--threads', type=int, required=True)
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--in-channels', type=int, default=3)
    p.add_argument('--num-classes', type=int, default=1000)
    a = p.parse_args()
    try:
        import torch
        import torch.nn.functional as F
        import torchvision  # noqa: F401
    except ImportError as e:
        print(json.dumps({'skipped': f'torch not importable by {sys.executable}: {e}'}))
        return

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = build(a.arch, a.in_channels, a.num_classes)
    x = torch.randn(a.batch, a.in_channels, a.size, a.size)
    labels = torch.randint(0, a.num_classes, (a.batch,))
    if a.mode == 'train':
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)

    rss_model = rss_mb()
    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    median = sorted(times)[len(times) // 2]  # the same pick as resnet bench's
    print(json.dumps({
        'engine': f'torch {torch.__version__}',
        'arch': a.arch,
        'batch': a.batch,
        'size': a.size,
        'mode': a.mode,
        'threads': torch.get_num_threads(),
        'iters': a.iters,
        'img_per_s': a.batch * 1000 / median,
        'ms_per_iter': median,
        'ms_min': min(times),
        'ms_mean': statistics.mean(times),
        'peak_rss_mb': peak_rss_mb(),
        'rss_model_mb': rss_model,
    }))


if __name__ == '__main__':
    main()
