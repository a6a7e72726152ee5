"""python -m madash.cli"""

import sys

from madash.cli import main

sys.exit(main())
