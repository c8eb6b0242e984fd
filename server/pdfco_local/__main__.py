"""``python -m pdfco_local serve ...``"""

import sys

from .cli import main

sys.exit(main())
