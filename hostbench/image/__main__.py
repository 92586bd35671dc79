"""`python -m hostbench.image [--force]`: build or reuse the image artifacts."""

import argparse

from hostbench.console import run_cli
from hostbench.image.build import build_image


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/build-image", description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even when cached")
    args = parser.parse_args()
    run_cli(lambda: build_image(force=args.force))


if __name__ == "__main__":
    main()
