"""`python -m glance_ha_lab COMMAND`: the lab's command line (see lab.py)."""

import sys

from glance_ha_lab import lab

sys.exit(lab.main())
