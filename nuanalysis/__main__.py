"""``python -m nuanalysis`` runs the command line, for machines where the package is on
``PYTHONPATH`` rather than installed (scripts/gpu_session.sh)."""

from nuanalysis.cli import main

main()
