"""Whether a method's neutrinos depend on ``--chunk-size``: the demo samples run through the
runner at two chunk sizes, and the neutrino momenta compared value by value.

Usage::

    python benchmarks/chunk_independence.py [--methods flow] [--sizes 5000 7]
"""

from __future__ import annotations

import argparse

import numpy as np

from nuanalysis.io import demo_sample_path
from nuanalysis.methods.registry import get_method
from nuanalysis.runner import run_methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="flow", help="comma-separated method names")
    parser.add_argument("--sizes", type=int, nargs=2, default=(5000, 7), metavar="N")
    args = parser.parse_args()
    for method in args.methods.split(","):
        for channel in get_method(method).channels:
            momenta = [
                run_methods(demo_sample_path(channel), [method], chunk_size=size)
                .results[method]
                .momenta
                for size in args.sizes
            ]
            difference = np.abs(momenta[0] - momenta[1])
            print(
                f"{method} {channel} chunk sizes {args.sizes[0]} vs {args.sizes[1]}: "
                f"{int((difference > 0).sum())} of {difference.size} momentum components differ "
                f"(p_z: {int((difference[..., 2] > 0).sum())}), "
                f"largest difference {difference.max():.3g} GeV"
            )


if __name__ == "__main__":
    main()
