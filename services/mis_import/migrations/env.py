from services.mis_import.models import Base
from shared.db import alembic_env

alembic_env(Base.metadata)
