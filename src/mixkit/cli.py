"""The ``mixkit`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import click
except ImportError:  # pragma: no cover - exercised only without the cli extra
    click = None  # type: ignore[assignment]


def _missing_extra() -> int:
    print("mixkit's command line needs its extra: pip install 'mixkit[cli]'", file=sys.stderr)
    return 2


if click is not None:

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="mixkit")
    def cli() -> None:
        """mixkit: mix-based data augmentation (MixUp, CutMix and family)."""

    @cli.command()
    @click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
                  default=Path("mixkit-output"), show_default=True, help="Folder for preview.png.")
    @click.option("-n", "--n", "n", type=click.IntRange(2, 32), default=8, show_default=True,
                  help="Samples per row.")
    @click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                  help="Seed of the sampled plans.")
    def preview(out: Path, n: int, seed: int) -> None:
        """Write a PNG grid of mixed digits (scikit-learn's bundled set) with their soft labels."""
        from sklearn.datasets import load_digits

        from .preview import default_methods, preview_grid

        digits = load_digits()
        images = (digits.images[:, None, :, :] / 16.0).astype("float32")
        labels = digits.target.astype("int64")
        path = preview_grid(images, labels, default_methods(10), out / "preview.png", n=n, rng=seed,
                            title="mixkit preview on scikit-learn digits: mixed samples and soft labels")
        click.echo(f"wrote {path}")

    from .sweep.command import sweep_command

    cli.add_command(sweep_command, name="sweep")


def main(argv: list[str] | None = None) -> int:
    if click is None:
        return _missing_extra()
    try:
        cli.main(args=argv, prog_name="mixkit", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
