import sys

from services.mis_import.app import build
from shared.service import main

sys.exit(main(build, "mis_import"))
