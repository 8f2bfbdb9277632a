"""Regenerate graphspec/catalog.json from the installed Keras.

Run after upgrading Keras: `python scripts/update_catalog.py`. The test suite fails while the
shipped catalog differs from what this would write.
"""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from graphspec import catalog  # noqa: E402
from graphspec.keras import catalog_gen  # noqa: E402

target = Path(catalog.__file__).with_name(catalog.CATALOG_FILE)
target.write_text(catalog_gen.dumps(catalog_gen.generate()), encoding="utf-8")
print(f"wrote {target}")
