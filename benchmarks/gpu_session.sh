#!/usr/bin/env bash
# The prepared GPU session (docs/performance.md, docs/results/README.md): one short script so that
# a lent GPU's minutes go to measuring, not to typing. Run from the repository root:
#
#   benchmarks/gpu_session.sh WHEELDIR MNIST_RAW OUTDIR PHASE...
#
# WHEELDIR holds the toolkit's wheels (pip wheel --no-deps -w WHEELDIR . plugins/example-circular),
# installed into the GPU machine's own torch with --no-deps (that machine reaches no registry).
# Phases, run in the order given:
#   sanity      a 40-step MNIST training with train.cuda_graph on, then eval (fails fast)
#   throughput  benchmarks/throughput.py for the MNIST net at batch 64/128 (+ plain loop) and 1024/4096
#   compile     the torch.compile variants at batch 128
#   backbones   every backbone at batch 64/128, eager and CUDA graph
#   sweep       MNIST settings x 3 seeds through benchmarks/reproduce_results.py, runs concurrent
#   pack        everything in OUTDIR as one gpu-results.tgz
# Every result lands in OUTDIR (JSON and logs).
set -u
WHEELS=$1 MNIST=$2 OUTDIR=$3
shift 3
mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$WHEELS"/*.whl >"$OUTDIR/install.log" 2>&1 \
    || { cat "$OUTDIR/install.log"; exit 1; }
export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUTDIR/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUTDIR/gpu.txt"

tp() { python3 benchmarks/throughput.py --device cuda --peak-size 8192 --steps 200 --warmup 5 --repeats 5 "$@"; }

for phase in "$@"; do
    echo "== $phase $(date +%T)"
    case $phase in
    sanity)
        infogan-tk train --config mnist --data-root "$MNIST" --device cuda --steps 40 --out /tmp/sanity \
            --set train.cuda_graph=true --set train.log_every=10 --set train.checkpoint_every=20 --quiet --json \
            >"$OUTDIR/sanity.json" || exit 1
        infogan-tk eval /tmp/sanity --metrics mi,accuracy --device cuda --json >"$OUTDIR/sanity-eval.json" || exit 1
        tail -c 400 "$OUTDIR/sanity.json"; echo ;;
    throughput)
        tp --backbones mnist --batch-sizes 64 128 --variants default,channels_last,bf16,tf32,fused,cuda_graph,bf16+cuda_graph,tf32+cuda_graph \
            --plain --mnist-root "$MNIST" --json "$OUTDIR/throughput-gpu-mnist.json"
        tp --backbones mnist --batch-sizes 1024 4096 --variants default,bf16,tf32,cuda_graph,bf16+cuda_graph \
            --json "$OUTDIR/throughput-gpu-mnist-large.json" ;;
    compile)
        tp --backbones mnist --batch-sizes 128 --variants compile,compile_cudagraphs,compile+cuda_graph \
            --json "$OUTDIR/throughput-gpu-mnist-compile.json" ;;
    backbones)
        tp --batch-sizes 64 128 --variants default,cuda_graph --steps 50 --repeats 3 \
            --json "$OUTDIR/throughput-gpu-backbones.json" ;;
    sweep)
        # Concurrent runs share the GPU, so their wall times are not speeds; only their results count.
        # Each setting's seeds run in turn; SWEEP_SECONDS (default 300) bounds a setting, keeping the seeds done.
        export OMP_NUM_THREADS=1
        sweep() {
            local label=$1; shift
            timeout "${SWEEP_SECONDS:-300}" python3 benchmarks/reproduce_results.py mnist --seeds 0 1 2 --device cuda --eval-device cuda \
                --data-root "$MNIST" --runs "runs/gpu-sweep" --results-dir "$OUTDIR" --record-as mnist-sweep --label "$label" \
                --no-figures --set train.figures=false --set train.cuda_graph=true "$@" >"$OUTDIR/sweep-$label.log" 2>&1 &
        }
        # Each setting names every option it depends on, so a later change of configs/mnist.toml keeps its meaning.
        paper_base=(--set model.noise=normal --set 'train.d_batch="joint"')
        sweep paper "${paper_base[@]}"
        sweep uniform-noise --set model.noise=uniform --set 'train.d_batch="joint"'
        sweep authors --set model.noise=uniform --set 'train.d_batch="separate"'
        sweep learned-std "${paper_base[@]}" --set 'model.heads={}'
        sweep unif4 "${paper_base[@]}" --set 'model.codes="cat10,unif4"'
        sweep equal-lr "${paper_base[@]}" --set optim.lr_g=2e-4
        wait ;;
    pack)
        # One archive: a lent machine may return only a few files.
        tar czf /tmp/gpu-results.tgz -C "$OUTDIR" . && mv /tmp/gpu-results.tgz "$OUTDIR/" ;;
    *) echo "unknown phase $phase"; exit 2 ;;
    esac
done
echo "== done $(date +%T)"
