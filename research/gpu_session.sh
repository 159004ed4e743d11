#!/usr/bin/env bash
# The prepared GPU session (docs/performance.md, research/results/HISTORY.md): one short script so that
# a lent GPU's minutes go to measuring, not to typing. Run from the repository root:
#
#   research/gpu_session.sh WHEELDIR MNIST_RAW OUTDIR PHASE...
#
# WHEELDIR holds the toolkit's wheels (pip wheel --no-deps -w WHEELDIR . plugins/example-circular),
# installed into the GPU machine's own torch with --no-deps (that machine reaches no registry).
# Phases, run in the order given:
#   sanity      a 40-step MNIST training with train.cuda_graph on, then eval (fails fast)
#   throughput  benchmarks/throughput.py for the MNIST net at batch 64/128 (+ plain loop) and 1024/4096
#   compile     the torch.compile variants at batch 128
#   backbones   every backbone at batch 64/128, eager and CUDA graph
#   sweep       session 2's MNIST settings (noise, D batch, head, codes, lr) x 3 seeds -> mnist-sweep
#   sweep-authors  variations of the authors' setting (steps, lambda, lr, batch, invariance term)
#               x 3 seeds, every run concurrent -> mnist-sweep-authors
#   sweep-invariance  round two around the invariance term (batch 64, weight 2, lambda 2) -> mnist-sweep-authors
#   sweep-robust  seeds 3-7 of the config (invariance with a 20-degree shear), of the same without
#               the shear, and with the real-data information term instead -> mnist-sweep-authors
#   shapes-sweep  shapes for SHAPES_STEPS (10,000) steps: the default network, the lean BN-free one at
#               lambda 1 and 0.3, and with the invariance term, x 3 seeds, all concurrent -> shapes-sweep
#   shapes-cr   shapes for SHAPES_STEPS steps in Lin et al.'s dSprites recipe (spectral-norm D, unif5,
#               lambda 0.05), without and with the contrastive regulariser (weight 2 from step 0, and
#               from three quarters of the steps), and lean-lit-l1 with it from half way, x 3 seeds,
#               all concurrent -> shapes-sweep
#   dsprites-cr  Lin et al.'s dSprites protocol (configs/dsprites-infogan-cr.toml): InfoGAN-CR and their
#               tuned InfoGAN (the same, contrastive weight 0) for DSPRITES_STEPS (322,560 = 28 epochs)
#               on DSPRITES_SEEDS (0), concurrently, then eval at disentanglement_lib's sizes; needs the
#               dSprites archive in the folder $DSPRITES. A run cut off by SWEEP_SECONDS resumes when
#               the phase is run again. -> dsprites-*-eval.json
#   unittests   the CUDA-only tests (if pytest is there)
#   pack        everything in OUTDIR as one gpu-results.tgz
# Every result lands in OUTDIR (JSON and logs).
set -u
# Everything below main() only defines; sourcing the script (as tests/test_gpu_session.py does)
# runs nothing, so the sweeps' settings can be checked on a CPU before a GPU is lent.

tp() { python3 benchmarks/throughput.py --device cuda --peak-size 8192 --steps 200 --warmup 5 --repeats 5 "$@"; }

# One reproduce_results.py run on the GPU (CUDA graph, no figures) in the background, cut off after
# SWEEP_SECONDS (default 480); its log goes to /tmp/sweep-logs/LOG.log, out of OUTDIR until packed.
gpu_reproduce() {
    local log=$1; shift
    mkdir -p /tmp/sweep-logs
    OMP_NUM_THREADS=1 timeout "${SWEEP_SECONDS:-480}" python3 research/reproduce_results.py "$@" \
        --device cuda --eval-device cuda --results-dir "$OUTDIR" --no-figures \
        --set train.cuda_graph=true --set train.figures=false >"/tmp/sweep-logs/$log.log" 2>&1 &
}

# One run of the authors' setting (the base every sweep-authors/sweep-invariance setting varies);
# the base names every option configs/mnist.toml sets beyond the paper, so the sweep keeps its
# meaning when that config changes.
authors_run() {
    local label=$1 seed=$2; shift 2
    gpu_reproduce "$label-seed$seed" mnist --seeds "$seed" --data-root "$MNIST" --runs runs/gpu-sweep \
        --record-as mnist-sweep-authors --label "$label" --steps 5000 \
        --set model.noise=uniform --set 'train.d_batch="separate"' --set loss.invariance.weight=0.0 \
        --set loss.real_information.weight=0.0 --set loss.invariance.shear=0.0 --set train.batch_size=128 "$@"
}

# 10,000 steps, also evaluated at the 5,000-step checkpoint.
LONG=(--steps 10000 --set train.keep_checkpoints=20 --eval-at 5000)

# The config (invariance, batch 64) and the two variants that also reached 97% on seeds 0-2, for
# the seeds given, all at once; returns when every run has ended.
invariance_variants() {
    local seed
    for seed in "$@"; do
        authors_run invariance-batch-64 "$seed" "${LONG[@]}" --set loss.invariance.weight=1.0 --set train.batch_size=64
        authors_run invariance-2 "$seed" "${LONG[@]}" --set loss.invariance.weight=2.0
        authors_run invariance-lambda-disc-2 "$seed" "${LONG[@]}" --set loss.invariance.weight=1.0 --set loss.lambda_discrete=2.0
    done
    wait
}

# One shapes run of SHAPES_STEPS steps (default 10,000; also evaluated half way), recorded as LABEL
# in shapes-sweep; the caller names every option the setting depends on. A run cut off by
# SWEEP_SECONDS records nothing, so size the steps to fit. The evaluation uses the CPU sweep's
# reduced sizes: twelve runs' boosted trees at the reference sizes would not fit the minutes.
shapes_run() {
    local label=$1 seed=$2 steps=${SHAPES_STEPS:-10000}; shift 2
    gpu_reproduce "shapes-$label-seed$seed" shapes --seeds "$seed" --runs runs/gpu-shapes --record-as shapes-sweep \
        --label "$label" --steps "$steps" --eval-at $(( steps / 2 )) --set train.checkpoint_every=$(( steps / 4 )) \
        --eval-size reduced \
        --set train.keep_checkpoints=10 --set loss.invariance.weight=0.0 \
        --set train.batch_size=64 --set model.noise_dim=5 --set 'model.codes="cat3,unif4"' "$@"
}

# The lean shapes network with a BN-free D, the fixed-std head, uniform noise and the dSprites
# literature's learning rates (G 1e-3, D 2e-3), lambda 1 for both code kinds.
LEAN_LIT=(--set 'model.options={layout="lean",d_norm="none"}' --set 'model.heads={unif="gaussian-fixed"}'
    --set model.noise=uniform --set optim.lr_d=2e-3 --set optim.lr_g=1e-3
    --set loss.lambda_discrete=1.0 --set loss.lambda_continuous=1.0)

# Lin et al.'s dSprites recipe for plain InfoGAN (the bar's setting): the lean network with a
# spectrally normalised D, five Unif(-1, 1) codes at lambda 0.05 with the fixed-std head, five
# uniform noise variables, learning rates G 1e-3 and D 2e-3 (no discrete code, so no accuracy
# metric). The contrastive runs add loss.contrastive.
LIN_CR=(--set 'model.options={layout="lean",d_norm="spectral"}' --set 'model.heads={unif="gaussian-fixed"}'
    --set 'model.codes="unif5"' --set model.noise_dim=5 --set model.noise=uniform --set optim.lr_d=2e-3
    --set optim.lr_g=1e-3 --set loss.lambda_discrete=0.05 --set loss.lambda_continuous=0.05
    --metrics mi,mig,sap,dci,factorvae)

# One run of the dSprites protocol (LABEL infogan-cr or infogan, SEED), trained for SWEEP_SECONDS at
# most (continued from its checkpoint when its directory exists), then evaluated at the eval
# defaults (disentanglement_lib's sizes) on the GPU; the train log goes to /tmp/sweep-logs.
dsprites_run() {
    local label=$1 seed=$2 weight=2.0 run="runs/gpu-dsprites/$1-seed$2"
    [ "$label" = infogan ] && weight=0.0
    local start=(--out "$run")
    [ -f "$run/config.toml" ] && start=(--resume "$run")
    mkdir -p /tmp/sweep-logs
    timeout "${SWEEP_SECONDS:-480}" infogan-tk train --config dsprites-infogan-cr --data-root "${DSPRITES:?put the dSprites archive in a folder and set DSPRITES to it}" \
        --device cuda --seed "$seed" --steps "${DSPRITES_STEPS:-322560}" "${start[@]}" --set loss.contrastive.weight="$weight" \
        --set train.cuda_graph=true --set train.figures=false --quiet --no-eval >"/tmp/sweep-logs/dsprites-$label-seed$seed.log" 2>&1
    timeout "${SWEEP_SECONDS:-480}" infogan-tk eval "$run" --device cuda --metrics mig,sap,dci,factorvae --json \
        >"$OUTDIR/dsprites-$label-seed$seed-eval.json" 2>"/tmp/sweep-logs/dsprites-$label-seed$seed-eval.log"
}

# One phase; "exit" (a failed sanity run, an unknown phase) ends the whole session.
run_phase() {
    local phase=$1
    case $phase in
    sanity)
        infogan-tk train --config mnist --data-root "$MNIST" --device cuda --steps 40 --out /tmp/sanity \
            --set train.cuda_graph=true --set loss.invariance.weight=1.0 --set train.log_every=10 --set train.checkpoint_every=20 --quiet --json \
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
            timeout "${SWEEP_SECONDS:-300}" python3 research/reproduce_results.py mnist --seeds 0 1 2 --device cuda --eval-device cuda \
                --data-root "$MNIST" --runs "runs/gpu-sweep" --results-dir "$OUTDIR" --record-as mnist-sweep --label "$label" \
                --no-figures --set train.figures=false --set train.cuda_graph=true \
                --steps 5000 --set loss.invariance.weight=0.0 --set train.batch_size=128 "$@" >"$OUTDIR/sweep-$label.log" 2>&1 &
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
    sweep-authors)
        # Every setting x seed is its own process, all at once: a run killed by SWEEP_SECONDS loses only itself.
        for seed in 0 1 2; do
            authors_run authors-10k "$seed" "${LONG[@]}"
            authors_run invariance-10k "$seed" "${LONG[@]}" --set loss.invariance.weight=1.0
            authors_run invariance-strong "$seed" --set loss.invariance.weight=1.0 --set loss.invariance.rotation=30 \
                --set loss.invariance.scale=0.2 --set loss.invariance.shift=0.15
            authors_run lambda-disc-2 "$seed" --set loss.lambda_discrete=2.0
            authors_run equal-lr "$seed" --set optim.lr_g=2e-4
            authors_run batch-64 "$seed" --set train.batch_size=64
        done
        wait
        tar czf "$OUTDIR/sweep-authors-logs.tgz" -C /tmp sweep-logs ;;
    sweep-invariance)
        # Round two, around the winner of sweep-authors (the invariance term, 10,000 steps).
        invariance_variants 0 1 2
        tar czf "$OUTDIR/sweep-invariance-logs.tgz" -C /tmp sweep-logs ;;
    sweep-robust)
        # Is "at least 95% on every seed" robust? Seeds 3-7 of the config (invariance with the shear),
        # of the config before the shear (a CPU seed of it fell to 88%), and of that plus the real-data
        # information term (CPU seeds 98.2/97.7/88.2%), all at once.
        local seed
        for seed in 3 4 5 6 7; do
            authors_run shear-20-batch-64 "$seed" "${LONG[@]}" --set loss.invariance.weight=1.0 --set loss.invariance.shear=20 \
                --set train.batch_size=64
            authors_run invariance-batch-64 "$seed" "${LONG[@]}" --set loss.invariance.weight=1.0 --set train.batch_size=64
            authors_run real-information-batch-64 "$seed" "${LONG[@]}" --set loss.invariance.weight=1.0 \
                --set loss.real_information.weight=1.0 --set train.batch_size=64
        done
        wait
        tar czf "$OUTDIR/sweep-robust-logs.tgz" -C /tmp sweep-logs ;;
    shapes-sweep)
        # Shapes for SHAPES_STEPS steps, 3 seeds, all at once: the default network against the lean,
        # BN-free D with the dSprites literature's learning rates at lambda 1 and 0.3, and at lambda 1
        # with the invariance term. -> shapes-sweep
        for seed in 0 1 2; do
            shapes_run wide-bn "$seed" --set 'model.options={layout="wide",d_norm="batch"}' --set 'model.heads={}' \
                --set loss.lambda_discrete=1.0 --set loss.lambda_continuous=0.1 --set optim.lr_d=2e-4 --set model.noise=normal
            shapes_run lean-lit-l1 "$seed" "${LEAN_LIT[@]}"
            shapes_run lean-lit-l0.3 "$seed" "${LEAN_LIT[@]}" --set loss.lambda_discrete=0.3 --set loss.lambda_continuous=0.3
            shapes_run lean-lit-l1-invariance "$seed" "${LEAN_LIT[@]}" --set loss.invariance.weight=1.0
        done
        wait
        tar czf "$OUTDIR/shapes-sweep-logs.tgz" -C /tmp sweep-logs ;;
    shapes-cr)
        # Lin et al.'s recipe without and with the contrastive regulariser, 3 seeds, all at once.
        # -> shapes-sweep
        # Also the CPU runs' contrastive setting: lean-lit-l1 with the regulariser from half way.
        local late=$(( ${SHAPES_STEPS:-10000} * 3 / 4 )) half=$(( ${SHAPES_STEPS:-10000} / 2 ))
        for seed in 0 1 2; do
            shapes_run lean-sn-unif5-l0.05 "$seed" "${LIN_CR[@]}"
            shapes_run lean-sn-unif5-l0.05-cr2 "$seed" "${LIN_CR[@]}" --set loss.contrastive.weight=2.0
            shapes_run lean-sn-unif5-l0.05-cr2-late "$seed" "${LIN_CR[@]}" --set loss.contrastive.weight=2.0 --set loss.contrastive.start=$late
            shapes_run lean-lit-l1-cr2-half "$seed" "${LEAN_LIT[@]}" --set loss.contrastive.weight=2.0 --set loss.contrastive.start=$half
        done
        wait
        tar czf "$OUTDIR/shapes-cr-logs.tgz" -C /tmp sweep-logs ;;
    dsprites-cr)
        local seed label
        for seed in ${DSPRITES_SEEDS:-0}; do
            for label in infogan-cr infogan; do
                dsprites_run "$label" "$seed" &
            done
        done
        wait
        tar czf "$OUTDIR/dsprites-cr-logs.tgz" -C /tmp sweep-logs ;;
    unittests)
        python3 -c "import pytest" 2>/dev/null || { echo "no pytest here"; return 0; }
        timeout 90 python3 -m pytest -p no:cacheprovider -q tests/test_engine_options.py tests/test_ema.py -k cuda 2>&1 | tail -20 | tee "$OUTDIR/unittests.log" ;;
    pack)
        # One archive: a lent machine may return only a few files.
        tar czf /tmp/gpu-results.tgz -C "$OUTDIR" . && find "$OUTDIR" -mindepth 1 -delete && mv /tmp/gpu-results.tgz "$OUTDIR/" ;;
    *) echo "unknown phase $phase"; exit 2 ;;
    esac
}

main() {
    WHEELS=$1 MNIST=$2 OUTDIR=$3
    shift 3
    mkdir -p "$OUTDIR"
    export PYTHONUNBUFFERED=1
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$WHEELS"/*.whl >"$OUTDIR/install.log" 2>&1 \
        || { cat "$OUTDIR/install.log"; exit 1; }
    export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUTDIR/gpu.txt"
    python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUTDIR/gpu.txt"
    for phase in "$@"; do
        echo "== $phase $(date +%T)"
        run_phase "$phase"
    done
    echo "== done $(date +%T)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
