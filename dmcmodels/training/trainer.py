"""The training loop ("solver") every model kind of the project plugs into.

One :class:`TrainConfig` in, one run folder out (layout: :mod:`dmcmodels.training.checkpoint`).
The loop, in one sitting:

    build the fixed validation set, the model (seeded), Adam, ReduceLROnPlateau
    resume from RUN/checkpoints/last.pt if asked (model, optimizer, scheduler, loader position,
        RNG states, step, early-stopping counters: the continued run equals an uninterrupted one)
    for each group of --accumulate batches of the streaming loader:
        (input, conditioning, target) = task.prepare(batch); crop the target to the output
        loss / k → backward, summed over the group → gradient norm; a non-finite norm skips the batch (counted; too many in a
            row stop the run, the last good checkpoint kept) — the norm is the same on every rank
            after DDP's all-reduce, so all ranks skip together
        every val_every steps: validate on the fixed set, step the plateau scheduler, keep best,
            early-stop after stop_patience validations without improvement, write last.pt
    stop at --max-steps, --max-minutes or early stopping; write last.pt

Under torchrun every rank runs this loop on its own shards; only rank 0 writes files.
"""

from __future__ import annotations

import csv
import json
import math
import random
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dmcmodels import tasks
from dmcmodels.models import build_model, count_parameters
from dmcmodels.training import checkpoint as ckpt
from dmcmodels.training import distributed as dist
from dmcmodels.training import setup
from dmcmodels.training.config import ConfigError, TrainConfig
from dmcmodels.training.data import DataError, collate_fn, collect, make_dataset, split_selection

METRICS_FILE = "metrics.csv"
METRIC_FIELDS = ["step", "epoch", "elapsed_s", "lr", "train_loss", "val_loss", "best_val_loss",
                 "examples_per_s", "peak_memory_mb", "skipped_batches"]


class TrainingError(RuntimeError):
    """A run that cannot go on (non-finite losses, no data); the message says what was kept."""


@dataclass
class Summary:
    run: str
    steps: int
    stop: str
    best_val_loss: float
    examples_per_s: float
    peak_memory_mb: float
    parameters: int
    skipped_batches: int


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])


def to_device(batch: dict, dev: torch.device) -> dict:
    return {k: (v.to(dev) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def forward_loss(model, loss_fn, task: str, batch: dict) -> tuple[torch.Tensor, int]:
    _, y, out = tasks.predict(model, task, batch)
    return loss_fn(out, y), out.shape[0]


def train_step(net, params, opt, loss_fn, task: str, batches: list[dict]) -> tuple[torch.Tensor, int, bool]:
    """One optimizer step over ``batches`` (gradient accumulation: each batch's loss weighted 1/k):
    (mean loss, examples, applied). Not applied when the gradient norm is not finite (the same
    decision on every rank: DDP all-reduces the gradients before the norm)."""
    import contextlib

    opt.zero_grad(set_to_none=True)
    total, n, k = 0.0, 0, len(batches)
    for i, batch in enumerate(batches):
        # DDP: all-reduce once, after the last micro-batch
        sync = contextlib.nullcontext() if i == k - 1 or not hasattr(net, "no_sync") else net.no_sync()
        with sync:
            loss, b = forward_loss(net, loss_fn, task, batch)
            (loss / k).backward()
        total += float(loss.detach()) / k
        n += b
    norm = torch.nn.utils.clip_grad_norm_(params, math.inf)
    loss = torch.tensor(total)
    if not torch.isfinite(norm) or not math.isfinite(total):
        opt.zero_grad(set_to_none=True)
        return loss, n, False
    opt.step()
    return loss, n, True


@torch.no_grad()
def validate(model, loss_fn, task: str, val: dict, batch_size: int, dev: torch.device) -> float:
    model.eval()
    total, n = 0.0, 0
    count = len(val["key"])
    # mix: one song per example, each its own batch of one; else slices of the stacked tensors
    parts = val["examples"] if "examples" in val else [{k: v[i:i + batch_size] for k, v in val.items()}
                                                       for i in range(0, count, batch_size)]
    for part in parts:
        loss, b = forward_loss(model, loss_fn, task, to_device(part, dev))
        total += float(loss) * b
        n += b
    model.train()
    return total / n


def train(cfg: TrainConfig, run: Path, resume: bool = False, progress: bool = True) -> Summary:
    from tqdm import tqdm

    from dmcdata.streaming import StreamingLoader, gather_state
    from dmcmodels.losses import make_loss

    cfg.check()
    run = Path(run)
    rank, world, dev = dist.setup(cfg.device)
    main_rank = rank == 0
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    task = cfg.task
    mixing = cfg.kind == "mix"
    rf = None
    if not mixing:  # the receptive field (for the default patch length) does not depend on the conditioning size
        try:
            rf = build_model(cfg.model, 1, **cfg.model_args).receptive_field
        except (TypeError, ValueError) as e:
            raise ConfigError(f"--model {cfg.model} --model-args {json.dumps(cfg.model_args)}: {e}") from None
    val_spec = cfg.val or cfg.train
    val_sel = split_selection(val_spec, "val", cfg.val_select, strict=cfg.val is None)
    if cfg.val is None and val_sel is None:
        raise DataError(f"{cfg.train[0]} has no 'val' split in its manifest: pass --val DATA")
    val = collect(make_dataset(cfg, val_spec, val_sel, train=False, receptive_field=rf, rank=0, world_size=1),
                  cfg.val_examples, collate=collate_fn(cfg))
    if mixing:
        rates = sorted({int(ex["sample_rate"][0]) for ex in val["examples"]})
        if len(rates) != 1:
            raise DataError(f"the validation songs have several sample rates {rates}; a mixer runs at one")
        cfg.sample_rate = rates[0]
        if not resume and cfg.channel == "tcn" and "channel_model" not in cfg.model_args:
            cfg.model_args["channel_model"] = setup.channel_spec(cfg)
    else:
        cfg.cond_dim = int(val["params"].shape[1])
    torch.manual_seed(cfg.seed)
    model = setup.build(cfg)
    if not resume:
        setup.init_pretrained(model, cfg)
    model = model.to(dev)
    net = dist.wrap(model, dev)
    loss_fn = make_loss(cfg.loss, cfg.sample_rate)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=cfg.lr_factor,
                                                       patience=cfg.lr_patience)
    train_ds = make_dataset(cfg, cfg.train, split_selection(cfg.train, "train", cfg.select, strict=False), train=True,
                            receptive_field=rf)
    loader = StreamingLoader(train_ds, batch_size=cfg.batch_size, num_workers=cfg.num_workers, drop_last=True,
                             collate_fn=collate_fn(cfg))
    step, best, bad_vals, skipped, bad_run = 0, math.inf, 0, 0, 0
    last_path, best_path = run / ckpt.CKPT_DIR / ckpt.LAST, run / ckpt.CKPT_DIR / ckpt.BEST
    if resume:
        state = ckpt.load(last_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        loader.load_state_dict(state["loader"])
        set_rng_state(state["rng"])
        step, best, bad_vals, skipped = state["step"], state["best_val_loss"], state["bad_validations"], state["skipped"]
    elif main_rank:
        run.mkdir(parents=True, exist_ok=True)
        cfg.save(run)

    def state_dict() -> dict:
        return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "loader": gather_state(loader), "rng": rng_state(), "step": step, "best_val_loss": best,
                "bad_validations": bad_vals, "skipped": skipped, "config": cfg.to_dict(),
                "replicas": dist.replica_digests(net)}

    writer = None
    if main_rank:
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(run))
        except ImportError:
            pass
        new_csv = not (run / METRICS_FILE).exists()
        csv_file = open(run / METRICS_FILE, "a", newline="")
        rows = csv.DictWriter(csv_file, fieldnames=METRIC_FIELDS)
        if new_csv:
            rows.writeheader()
    bar = tqdm(total=cfg.max_steps, initial=step, unit="step", disable=not (progress and main_rank),
               dynamic_ncols=True, file=sys.stderr, desc=f"train {cfg.kind} {cfg.model}")
    t0 = time.monotonic()
    win_t, win_n, win_loss, win_steps = time.monotonic(), 0, 0.0, 0
    rate, stop = 0.0, ""
    net.train()
    fwd = torch.compile(net) if cfg.compile else net
    pending: list[dict] = []
    while not stop:
        got_batch = False
        for batch in loader:
            got_batch = True
            pending.append(to_device(batch, dev))
            if len(pending) < cfg.accumulate:
                continue
            loss, b, applied = train_step(fwd, params, opt, loss_fn, task, pending)
            pending = []
            if not applied:
                skipped += 1
                bad_run += 1
                if bad_run >= cfg.max_bad_steps:
                    kept = f"the last good checkpoint is {last_path}" if last_path.exists() else "no checkpoint was written yet"
                    raise TrainingError(f"{bad_run} batches in a row gave a non-finite loss or gradient at step "
                                        f"{step}; stopping ({kept})")
                continue
            bad_run = 0
            step += 1
            win_n += b * world
            win_loss += float(loss)
            win_steps += 1
            bar.update(1)
            validated = step % cfg.val_every == 0
            if validated:
                v = validate(model, loss_fn, task, val, cfg.batch_size, dev)  # plain module: no collectives
                sched.step(v)
                if v < best:
                    best, bad_vals = v, 0
                else:
                    bad_vals += 1
                state = state_dict()
                if main_rank:
                    if bad_vals == 0:
                        ckpt.save(best_path, state)
                    ckpt.save(last_path, state)
                if bad_vals >= cfg.stop_patience:
                    stop = f"early stop: no improvement in {bad_vals} validations"
            if step % cfg.log_every == 0 or validated:
                now = time.monotonic()
                rate = win_n / max(now - win_t, 1e-9)
                row = {"step": step, "epoch": loader.epoch, "elapsed_s": round(now - t0, 3),
                       "lr": opt.param_groups[0]["lr"], "train_loss": win_loss / max(win_steps, 1),
                       "val_loss": v if validated else "", "best_val_loss": best if math.isfinite(best) else "",
                       "examples_per_s": round(rate, 3), "peak_memory_mb": round(peak_memory_mb(dev), 1),
                       "skipped_batches": skipped}
                bar.set_postfix(loss=f"{row['train_loss']:.4g}", ex_s=f"{rate:.1f}",
                                val=f"{best:.4g}" if math.isfinite(best) else "-")
                if main_rank:
                    rows.writerow(row)
                    csv_file.flush()
                    if writer is not None:
                        for k in ("train_loss", "val_loss", "lr", "examples_per_s"):
                            if row[k] != "":
                                writer.add_scalar(k, row[k], step)
                win_t, win_n, win_loss, win_steps = now, 0, 0.0, 0
            if cfg.max_steps is not None and step >= cfg.max_steps:
                stop = f"reached --max-steps {cfg.max_steps}"
            elif cfg.max_minutes is not None and time.monotonic() - t0 >= 60.0 * cfg.max_minutes:
                stop = f"reached --max-minutes {cfg.max_minutes:g}"
            if stop:
                break
        if not got_batch:
            raise DataError(f"an epoch of {cfg.train[0]} yielded no batch of {cfg.batch_size} "
                            f"(shards skipped: {loader.skips.shards_skipped}, samples skipped: "
                            f"{loader.skips.samples_skipped}); see the warnings above")
    bar.close()
    state = state_dict()
    if main_rank:
        ckpt.save(last_path, state)
        csv_file.close()
        if writer is not None:
            writer.close()
    dist.barrier()
    return Summary(run=str(run), steps=step, stop=stop, best_val_loss=best, examples_per_s=rate,
                   peak_memory_mb=peak_memory_mb(dev), parameters=count_parameters(model), skipped_batches=skipped)
