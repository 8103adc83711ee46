#!/usr/bin/env bash
# Localisation of a brain-MRI model's proposals (issue 13 part 2), no boxes in training:
#   experiments/brain_localisation.sh CARD.json OUT_DIR
# 1. tune-boxes: every box rule (CrossEAI alpha/sigma/tau/min-area/score/top-k, each CAM at
#    layer4 and layer3, with and without the foreground mask) chosen by 5-fold cross-validation
#    on the validation split's tumour slices; held-out folds reported; MaxBoxAccV2 beside it.
#    The chosen rules and the recommended proposal method are written into OUT/tuned_card.json.
# 2. report localization on the TEST split's tumour slices (never used to choose anything),
#    with the tuned card: CrossEAI, each CAM, Wang's thresholds and the fixed box.
# The splits are experiments/brain_recipe.py's (test 15 % first, validation 20 % of the rest).
set -euo pipefail
card=$1
out=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
data=$repo/../shared/data/brain_mri
py=$repo/.venv/bin/python
mkdir -p "$out"
"$py" "$repo/experiments/validation_split.py" "$data/images" "$out/validation.csv" --test-fraction 0.15
"$py" "$repo/experiments/validation_split.py" "$data/images" "$out/test.csv" --test-fraction 0.15 --which test
"$repo/.venv/bin/medxai" tune-boxes "$out/validation.csv" --model "$card" --boxes "$data/boxes.csv" \
    --layers layer4,layer3 --cams gradcam++,xgradcam,eigengradcam,layercam,ablationcam@layer4 \
    --foreground both --top-k 1,3 --folds 5 --cache "$out/maps" --out "$out/tune" \
    --write-card "$out/tuned_card.json" | tee "$out/tune.txt"
"$repo/.venv/bin/medxai" report localization --model "$out/tuned_card.json" \
    --data "$out/test.csv" --boxes "$data/boxes.csv" \
    --methods crosseai,crosseai-defaults,gradcam++,gradcam++@layer3,xgradcam,eigengradcam,layercam,layercam@layer3,ablationcam,guided,wang,fixed-box \
    --cache "$out/maps_test" --out "$out/report_test" | tee "$out/report_test.txt"
