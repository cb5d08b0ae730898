import sys

from services.reporting.app import build
from shared.service import main

sys.exit(main(build, "reporting"))
