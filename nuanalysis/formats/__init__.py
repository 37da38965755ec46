"""The experiments' formats: CMS NanoAOD and ATLAS PHYSLITE as event records, and detection.

- :mod:`~nuanalysis.formats.nanoaod`: NanoAOD via coffea's ``NanoAODSchema``;
- :mod:`~nuanalysis.formats.physlite`: PHYSLITE via ``PHYSLITESchema``;
- :mod:`~nuanalysis.formats.nanoaod_writer`: schema-v1 events written as NanoAOD;
- :mod:`~nuanalysis.formats.detect`: which of ntuple / nanoaod / physlite a file is.

The records are those :func:`nuanalysis.columnar.reconstruct` takes.
"""

from nuanalysis.formats.common import ChannelSelection
from nuanalysis.formats.detect import FORMATS, detect_format

__all__ = ["FORMATS", "ChannelSelection", "detect_format"]
