"""`python -m dispatcher` runs the griddispatch command line."""

import sys

from dispatcher.cli.main import main

sys.exit(main())
