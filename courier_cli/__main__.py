"""`python -m courier_cli`, the same as the `courier` console script."""

import sys

from courier_cli import main

sys.exit(main())
