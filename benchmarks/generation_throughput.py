"""Selected events per second per core of ``nuanalysis generate``, with and without re-smearing.

Each Pythia event passed through the detector N times (``--resmear N``) gives N
selection chances for one shower + hadronisation; this prints how much that
buys on this machine. One process, one thread; the Pythia start-up is counted.

    OMP_NUM_THREADS=1 python benchmarks/generation_throughput.py --channel semileptonic \
        --events 1000 --resmear 1 4
"""

from __future__ import annotations

import argparse

from nuanalysis.generation.runner import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channel", default="semileptonic")
    parser.add_argument("--events", type=int, default=1000, help="selected events per run")
    parser.add_argument("--resmear", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seed", type=int, default=991)
    args = parser.parse_args()
    print(f"{'resmear':>7} {'Pythia events':>13} {'selected':>8} {'seconds':>8} {'ev/s/core':>9}")
    for resmear in args.resmear:
        result = generate(
            args.channel, args.events, seed=args.seed, resmear=resmear, progress_bar=False
        )
        print(
            f"{resmear:>7} {result.n_generated:>13} {result.n_selected:>8} "
            f"{result.seconds:>8.1f} {result.events_per_second_per_core:>9.2f}"
        )


if __name__ == "__main__":
    main()
