#!/usr/bin/env bash
# `make demo`: the whole pipeline on embedded defaults, offline: generate -> score -> split -> train.
set -euo pipefail
out=${1:-demo-out}
px=.venv/bin/pixelis
rm -rf "$out"
mkdir -p "$out"
echo "== 1/4 generate: 600 synthetic CoTA samples with images"
$px generate 600 -o "$out/samples.jsonl" --seed 0 --images "$out/images"
echo "== 2/4 score: five-factor difficulty"
$px score "$out/samples.jsonl" -o "$out/scores.parquet"
echo "== 3/4 split: percentile categories + held-out eval set"
$px split "$out/scores.parquet" -o "$out/split"
echo "== 4/4 train: tiny-vl with the adaptive curriculum"
$px train "$out/split" --model tiny-vl --image-root "$out/images" --out "$out/run" --config configs/demo_train.yaml
echo "== report: figures of the scores, the split and the run"
$px report "$out/run" -o "$out/run/report.html"
$px report "$out/split" -o "$out/split-report.html"
echo "demo done: adapter in $out/run/adapter, report in $out/run/report.html"
