"""``python -m ixsim`` runs the CLI (one module identity, so CliError is caught)."""

import sys

from ixsim.cli import main

sys.exit(main())
