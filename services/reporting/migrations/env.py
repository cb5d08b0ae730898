from services.reporting.models import Base
from shared.db import alembic_env

alembic_env(Base.metadata)
