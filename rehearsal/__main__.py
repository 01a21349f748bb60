"""``python -m rehearsal``: the command line of :mod:`rehearsal.rehearse` (modes, read-back, destroy)."""

import sys

from rehearsal.rehearse import main

sys.exit(main())
