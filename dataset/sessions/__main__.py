import sys

from dataset.sessions.cli import main

sys.exit(main())
