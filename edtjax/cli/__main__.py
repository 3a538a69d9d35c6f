"""``python -m edtjax.cli``: the same as the ``edtjax`` command."""

import sys

from edtjax.cli import main

sys.exit(main())
