import sys

from services.records.app import build
from shared.service import main

sys.exit(main(build, "records"))
