#!/usr/bin/env bash
# Issue 4's measurements on Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist):
#   1. the recipe: resnet20, 1 channel, 28x28, cifar augment, SGD lr 0.1 momentum 0.9 Nesterov wd 5e-4,
#      one-cycle, batch 128, 5 epochs -> runs/fmnist (val accuracy and img/s in metrics.jsonl);
#   2. throughput beside PyTorch on the same recipe and a 12,800-image subset (when /usr/bin/python3 has torch);
#      `torch-recipe`: the whole recipe (all 60,000 images, 5 epochs) in each, one after the other;
#   3. transfer learning: pretrain on classes 0-4, fine-tune on 5-9 with 50 images per class, --pretrained with
#      --freeze backbone, and with --freeze none, against the same two runs from scratch (no --pretrained), each at
#      lr 0.05 and 0.5.
# Usage: bash scripts/fashion-mnist-experiments.sh [WORK_DIR] [recipe|torch|torch-recipe|transfer ...]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/fmnist}
shift || true
steps=${*:-recipe torch transfer}
# The installed command (bin/resnet.js on dist/, compiled here first), as users run it: under tsx each data loader
# worker transpiles its modules on start, which put 120 ms more into the first epoch.
npm run build --silent
resnet() { node bin/resnet.js "$@"; }
# Every file of a folder read once, so that the run after it finds them in the page cache: each engine's first
# epoch then times training, not the disk. (A cold cache cost our first epoch about 7% on the whole folder, 783
# against 840 img/s; the engine that ran second used to get the cache the first had filled.)
warm() { find "$1" -type f -print0 | xargs -0 cat >/dev/null; }
recipe=(--arch resnet20 --in-channels 1 --img-size 28 --augment cifar --optimizer sgd --lr 0.1 --momentum 0.9
  --nesterov --weight-decay 5e-4 --schedule onecycle --batch-size 128 --no-progress)

[ -d "$work/all" ] || npx tsx scripts/fashion-mnist-to-folder.ts "$work/all"
for step in $steps; do
  case $step in
  recipe)
    warm "$work/all"
    resnet train --data "$work/all" --out runs/fmnist --epochs 5 "${recipe[@]}"
    cat runs/fmnist/metrics.jsonl
    ;;
  torch)
    # Throughput side by side on a 12,800-image subset: 2 epochs each, resnet-ts then PyTorch, same recipe.
    [ -d "$work/sub" ] || npx tsx scripts/fashion-mnist-to-folder.ts "$work/sub" --per-class 1280 --val-per-class 100
    rm -rf runs/fmnist-sub
    warm "$work/sub"
    resnet train --data "$work/sub" --out runs/fmnist-sub --epochs 2 "${recipe[@]}"
    warm "$work/sub"
    /usr/bin/python3 scripts/torch_train_folder.py "$work/sub" --epochs 2
    ;;
  torch-recipe)
    # The recipe's whole run side by side: resnet-ts (as in `recipe`, into runs/fmnist-recipe), then PyTorch. Each
    # prints one line per epoch with sec and img/s; the run's throughput is its images over its summed epoch times.
    rm -rf runs/fmnist-recipe
    warm "$work/all"
    resnet train --data "$work/all" --out runs/fmnist-recipe --epochs 5 "${recipe[@]}"
    warm "$work/all"
    /usr/bin/python3 scripts/torch_train_folder.py "$work/all" --epochs 5
    ;;
  transfer)
    # Each arm at two learning rates, 40 epochs, and its best validation accuracy: a linear probe on a frozen
    # backbone wants a larger rate than training the whole network does, so one shared rate would favour one arm.
    [ -d "$work/pre" ] || npx tsx scripts/fashion-mnist-to-folder.ts "$work/pre" --classes 0-4
    [ -d "$work/few" ] || npx tsx scripts/fashion-mnist-to-folder.ts "$work/few" --classes 5-9 --per-class 50
    [ -f runs/fmnist-pre/model.safetensors ] || resnet train --data "$work/pre" --out runs/fmnist-pre --epochs 3 "${recipe[@]}"
    few=(--data "$work/few" --epochs 40 --batch-size 25 --arch resnet20 --in-channels 1 --img-size 28 --augment cifar
      --weight-decay 5e-4 --schedule cosine --no-progress)
    pre=(--pretrained runs/fmnist-pre/model.safetensors)
    for lr in 0.05 0.5; do
      resnet train "${few[@]}" --lr $lr --out runs/fmnist-frozen-$lr "${pre[@]}" --freeze backbone
      resnet train "${few[@]}" --lr $lr --out runs/fmnist-frozen-scratch-$lr --freeze backbone
      resnet train "${few[@]}" --lr $lr --out runs/fmnist-finetune-$lr "${pre[@]}" --freeze none
      resnet train "${few[@]}" --lr $lr --out runs/fmnist-scratch-$lr
    done
    for r in frozen frozen-scratch finetune scratch; do
      for lr in 0.05 0.5; do
        echo "$r lr $lr: best val_acc $(node -e "const m=require('fs').readFileSync('runs/fmnist-$r-$lr/metrics.jsonl','utf8').trim().split('\\n').map(JSON.parse);console.log(Math.max(...m.map(e=>e.val_acc)))")"
      done
    done
    ;;
  esac
done
