#!/bin/bash
# Submit the whole chain from the repository root: manifest → embed → mine → merge → distill,
# and the comparison array → its merge. Each step starts only if the one before succeeded.
set -euo pipefail
mkdir -p runs/slurm
manifest=$(sbatch --parsable docs/scale-out/manifest.sbatch)
embed=$(sbatch --parsable --dependency=afterok:"$manifest" docs/scale-out/embed.sbatch)
mine=$(sbatch --parsable --dependency=afterok:"$embed" docs/scale-out/mine.sbatch)
merge=$(sbatch --parsable --dependency=afterok:"$mine" docs/scale-out/merge.sbatch)
sbatch --parsable --dependency=afterok:"$merge" docs/scale-out/distill.sbatch
cells=$(sbatch --parsable docs/scale-out/compare.sbatch)
sbatch --parsable --dependency=afterok:"$cells" docs/scale-out/compare-merge.sbatch
