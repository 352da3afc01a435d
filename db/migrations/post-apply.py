"""yoyo post-apply hook: re-apply procedures/ and views/ after `yoyo apply`.

yoyo runs this only when at least one versioned migration was applied; `xorj db migrate`
applies the same files on every run.
"""

import sys
from pathlib import Path

from yoyo import step

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from app.migrate import apply_code  # noqa: E402

steps = [step(apply_code)]
