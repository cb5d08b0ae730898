import sys

from services.identity.app import build
from shared.service import main

sys.exit(main(build, "identity"))
