#!/usr/bin/env bash
# Until the first release the whole schema lives in revision 0001; regenerate it from the models.
# After a release, add a new revision instead: .venv/bin/alembic ... revision --autogenerate.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f src/herald/migrations/versions/0001_*.py /tmp/herald-regen.db
.venv/bin/python - <<'PY'
from alembic import command
from herald.kit.migrate import alembic_config
command.revision(alembic_config("sqlite:////tmp/herald-regen.db"), message="initial schema", autogenerate=True, rev_id="0001")
PY
.venv/bin/ruff check --fix -q src/herald/migrations || true
.venv/bin/ruff format -q src/herald/migrations
