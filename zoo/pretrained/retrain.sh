#!/usr/bin/env bash
# Retrains and re-registers every set of weights that ships in zoo/pretrained/.
#
#   bash zoo/pretrained/retrain.sh DATASETS_DIR CIFAR10_DIR
#
# DATASETS_DIR holds mnist/ and fashion-mnist/ (the IDX files); CIFAR10_DIR is the JPEG copy
# extracted (tar xzf cifar10-jpeg.tar.gz -C CIFAR10_DIR). The VGG-small networks at width
# 1/8 (16-16-32-32-64-64 channels for the baseline and ReCU, 1/sqrt(2) of that for
# BinaryDuo), 2 epochs each (BinaryDuo: 1 ternary + 1 decoupled), seed 0: small enough to
# ship and to train on 2 CPU cores in about half an hour. Each run's command, test accuracy
# and data source go into registry.json.
set -euo pipefail
datasets=${1:?usage: retrain.sh DATASETS_DIR CIFAR10_DIR}
cifar=${2:?usage: retrain.sh DATASETS_DIR CIFAR10_DIR}
python=${PYTHON:-.venv/bin/python}

for data in "fashion_mnist $datasets/fashion-mnist" "mnist $datasets/mnist" "cifar10 $cifar"; do
  read -r dataset dir <<< "$data"
  source=()
  if [ "$dataset" = cifar10 ]; then
    source=(--data_source "CIFAR-10 (JPEG copy: ../shared/datasets/cifar10-jpeg.tar.gz)")
  fi
  for model in bnn_vgg_small binaryduo_vgg_small recu_vgg_small; do
    epochs=(--epochs=2) option=()
    if [ "$model" = binaryduo_vgg_small ]; then
      epochs=(--epochs=1 --stage2_epochs=1) option=(--option stage=decoupled)
    fi
    run=runs/pretrained/$model-$dataset
    "$python" train.py --model="$model" --model_option=width_multiplier=0.125 \
      --dataset="$dataset" --data_dir="$dir" "${epochs[@]}" --seed=0 --output_dir="$run"
    "$python" -m zoo register "$run" --key "$dataset" "${option[@]}" "${source[@]}"
  done
done
