import sys

from services.transfers.app import build
from shared.service import main

sys.exit(main(build, "transfers"))
