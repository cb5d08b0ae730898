import sys

from services.notifications.app import build
from shared.service import main

sys.exit(main(build, "notifications"))
